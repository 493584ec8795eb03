"""Frames whose worker died holding them are settled as ``failed:abandoned``.

The dying worker is simulated at the exact point RQ leaves things when a process is
killed: the job taken from the queue (and, in one case, started), then nothing more.
A live worker's registry sweep, RQ's own code, must then settle the frame in the
camera's counters so the accounting identity holds after a crash.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

from common.accounting import read_counts
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.worker import scene_frame
from worker.rqworker import FerWorker

CAMERA = "cam-lost"


@pytest.fixture
def taken(
    rq_queue: Queue, redis_conn: redis.Redis[bytes], settings: Settings, fer_data_dir: Path
) -> Job:
    """A frame job a worker took from the queue just before it died."""
    job_id = FrameSubmitter(redis_conn, settings).enqueue(scene_frame(fer_data_dir, CAMERA))
    found = Queue.dequeue_any(
        [rq_queue], None, connection=redis_conn, job_class=FrameJob, serializer=MsgpackSerializer
    )
    assert found is not None and found[0].id == job_id
    return found[0]


def assert_settled_as_abandoned(
    job: Job, redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    counts = read_counts(redis_conn, settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.processed, counts.failed) == (1, 0, {"abandoned": 1})
    assert counts.settled == counts.submitted  # nothing left pending
    fetched = Job.fetch(job.id, connection=redis_conn, serializer=MsgpackSerializer)
    assert fetched.get_status() == JobStatus.FAILED


def test_a_frame_started_by_a_worker_that_died_is_settled(
    taken: Job,
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
) -> None:
    dying = FerWorker(
        [rq_queue],
        settings=worker.settings,
        pipeline=worker.pipeline,
        metrics=worker.metrics,
        connection=redis_conn,
    )
    dying.prepare_execution(taken)
    dying.prepare_job_execution(taken)  # started; then the process is killed
    registry = rq_queue.started_job_registry
    for member in redis_conn.zrange(registry.key, 0, -1):
        redis_conn.zadd(registry.key, {member: 1})  # its heartbeat ran out long ago

    worker.clean_registries()

    assert_settled_as_abandoned(taken, redis_conn, settings)


def test_a_frame_taken_but_never_started_is_settled(
    taken: Job,
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
) -> None:
    first_seen = rq_queue.intermediate_queue.get_first_seen_key(taken.id)
    redis_conn.set(first_seen, time.time() - 3600)  # RQ's sweep saw it there an hour ago

    worker.clean_registries()

    assert_settled_as_abandoned(taken, redis_conn, settings)


def test_a_frame_a_live_worker_holds_is_left_alone(
    taken: Job, worker: FerWorker, redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    worker.clean_registries()  # first sighting in the intermediate queue: not stuck yet

    counts = read_counts(redis_conn, settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.failed) == (1, {})


def test_a_taken_frame_whose_job_expired_first_is_counted_expired_at_the_next_sweep(
    taken: Job, worker: FerWorker, redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    """RQ forgets a stuck job whose hash expired before its one-minute rule fired; the
    sweep counts its frame so the camera's books still balance."""
    redis_conn.pexpire(taken.key, 1)  # its queued TTL runs out while the worker is dead
    time.sleep(0.05)
    assert read_counts(redis_conn, settings.key_prefix, CAMERA).settled == 0

    worker.run_maintenance_tasks()

    counts = read_counts(redis_conn, settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.dropped) == (1, {"expired": 1})
    assert redis_conn.llen(f"{settings.key_prefix}:pending:{CAMERA}") == 0
