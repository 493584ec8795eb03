"""The fuzz campaign (``ferstream fuzz``) and the hostile inputs the fuzz tests share.

- ``images``, ``messages``, ``jobs``: Hypothesis strategies for what a broken or hostile
  producer could send: images, wire messages, RQ jobs.
- ``targets``: the decoders, one input at a time, and what each input did.
- ``harness``: bursts of hostile jobs through a real worker on a real Redis.
- ``campaign``, ``report``: N inputs per target, counted and written up.

Needs the ``dev`` extras (Hypothesis).
"""
