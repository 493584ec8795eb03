"""``ferstream soak``: the real stack at 80 % of its saturation for a long while, with bad
frames mixed in, watched for growth, slowdown and frames that go uncounted.

- ``run``: the soak itself (``SoakOptions``, ``run_soak``), on the bench's stack,
  saturation measurement and load driver (``ferstream.bench``).
- ``badframes``: the bad frames mixed into the load, and the reasons they must fail with.
- ``probe``: what is sampled every few seconds, and the windows samples make.
- ``trend``: warm-up, least-squares slopes, the noise rule, p99 steadiness.
- ``results``, ``targets``, ``report``: the typed results, the targets, the report.
"""
