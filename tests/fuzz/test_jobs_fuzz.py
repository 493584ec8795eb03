"""Hostile jobs through the real ``FerWorker`` (the shipped model) on the real Redis.

Whatever a producer queues, each job ends failed or processed, is counted once under a
known reason, nothing it names runs and nothing of it is unpickled, the worker goes on
to the next job, and its metric labels keep within their bounds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.accounting import UNKNOWN_CAMERA
from common.settings import Settings
from ferstream.fuzz.harness import JobHarness, known_reasons, label_bounds
from ferstream.fuzz.jobs import HostileJob, bursts, hostile_jobs
from ferstream.fuzz.messages import CAMERAS
from worker.pipeline import FramePipeline

# a burst is up to 24 jobs and about a second of RQ's own: a twentieth of the examples
BURSTS = max(5, settings.default.max_examples // 20)
# The harness flushes its database before each burst: a fixture shared by the examples
# of one test is what it needs.
SHARED_HARNESS = settings(
    max_examples=BURSTS,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def harness(
    redis_conn: redis.Redis[bytes], settings: Settings, frame_pipeline: FramePipeline
) -> Iterator[JobHarness]:
    served = JobHarness(redis_conn, settings, frame_pipeline)
    try:
        yield served
    finally:
        served.close()


def reasons(counted: dict[str, int]) -> set[str]:
    return {outcome.split(":", 1)[1] for outcome in counted if outcome != "processed"}


@SHARED_HARNESS
@given(data=st.data())
def test_every_hostile_job_is_settled_and_counted_and_the_worker_goes_on(
    harness: JobHarness, data: st.DataObject
) -> None:
    jobs = data.draw(bursts(harness.trap), label="jobs")

    burst = harness.run(jobs)

    assert burst.crashes == ()
    assert burst.unsettled == ()
    assert sum(burst.counted.values()) == len(jobs), burst.counted
    assert reasons(burst.counted) <= known_reasons()
    assert burst.cameras <= {*CAMERAS, UNKNOWN_CAMERA}
    assert not burst.unpickled
    bounds = label_bounds()
    for label, values in harness.labels().items():
        assert values <= bounds[label], f"label {label}: {values - bounds[label]}"


REFUSED_KINDS = ("pickle", "foreign", "asks")


@SHARED_HARNESS
@given(data=st.data())
def test_pickles_foreign_functions_and_asks_of_rq_are_refused_unrun(
    harness: JobHarness, data: st.DataObject
) -> None:
    refused = hostile_jobs(harness.trap, REFUSED_KINDS)
    jobs: list[HostileJob] = data.draw(st.lists(refused, min_size=1, max_size=12), label="jobs")

    burst = harness.run(jobs)

    assert burst.counted == {"failed:foreign_job": len(jobs)}
    assert burst.cameras == {UNKNOWN_CAMERA}
    assert not burst.unpickled
