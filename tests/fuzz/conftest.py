"""Hypothesis profiles for the fuzz tests, chosen by ``HYPOTHESIS_PROFILE``.

- ``ci`` (the default): 200 examples per property, the same ones every run
  (derandomized), so that CI is fast and never flaky; a failure prints its example.
- ``long``: 5000 examples per property, new ones every run, failures kept in the
  example database (``.hypothesis/``) to be replayed first.

The job-path property serves a burst of up to 24 jobs per example through a real
worker (about a second each, RQ's start and stop): it runs a twentieth as many.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=2000, derandomize=True, database=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
