"""The benchmark programs (``ferstream bench``, ``ferstream bench-detect``): programs that
print numbers and write reports, never tests.

- ``suite``: ``ferstream bench``, the real stack under load against in-process references;
  ``stack`` starts Redis and the pool, ``load`` drives the pool, ``watch`` samples memory
  and CPU, ``reference`` runs the references, ``scenes`` makes the labelled frames every
  benchmark scores.
- ``results``: the typed results of a run, and the report they make up.
- ``targets``: the issue's targets, and how a report is judged against them.
- ``tables``, ``report``, ``plots``: the report as markdown, JSON and figures.
- ``detect``, ``detect_report``: ``ferstream bench-detect``, Haar recall against time.
"""
