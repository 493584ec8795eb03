"""RQ's bookkeeping in bulk (``worker.bulk``) leaves what RQ's own worker leaves.

The same frames run through RQ's own ``SimpleWorker`` (one job at a time, RQ's
``perform_job``) and through ``FerWorker`` (in batches, and a lone frame as a batch of
one), on the real Redis with the real pipeline; the tests compare what RQ's tools and
the project's readers see afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from common.accounting import read_counts
from common.results import read_history
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.worker import scene_frame
from worker.jobs import PROCESS_FRAME
from worker.rqworker import FerWorker

FRAMES = 6
CAMERA = "cam-bulk"
JOB_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXECUTION_ID = re.compile(rb"[0-9a-f]{32}")
WORKER_NAME = re.compile(rb"worker:[^:]+$")
MAINTENANCE_MARK = b"rq:clean"  # a worker's throttle on its own sweeps, set once per interval
TIMESTAMP = re.compile(rb"^\d{4}-\d\d-\d\dT")
VOLATILE_FIELDS = {b"data", b"description", b"total_working_time"}


@pytest.fixture(params=[0, 5], ids=["deleted as they finish", "kept 5 s"])
def submitter(
    request: pytest.FixtureRequest, redis_conn: redis.Redis[bytes], settings: Settings
) -> FrameSubmitter:
    """Frames enqueued with a job result TTL of 0 (the default) and of 5 s."""
    changes = {"max_pending_per_camera": 100, "job_result_ttl": request.param}
    return FrameSubmitter(redis_conn, settings.with_changes(**changes))


def snapshot(connection: redis.Redis[bytes]) -> dict[bytes, Any]:
    """Every key (ids replaced by placeholders) with its type, expiry and contents' shape:
    a hash's fields (and their values where they do not vary between runs: no times,
    no ids), a collection's size."""
    shapes: dict[bytes, Any] = {}
    for key in connection.scan_iter(count=1000):
        if key.startswith(MAINTENANCE_MARK):
            continue
        kind = connection.type(key)
        name = WORKER_NAME.sub(
            b"worker:<name>", EXECUTION_ID.sub(b"<exec>", JOB_ID.sub(b"<job>", key))
        )
        if kind == b"hash":
            content: Any = sorted(
                (field, None if field in VOLATILE_FIELDS or TIMESTAMP.match(value) else value)
                for field, value in connection.hgetall(key).items()
                if not JOB_ID.search(value) and not EXECUTION_ID.search(value)
            )
        elif kind == b"stream":
            content = connection.xlen(key)
        elif kind == b"zset":
            content = connection.zcard(key)
        elif kind == b"set":
            content = connection.scard(key)
        else:
            content = connection.llen(key) if kind == b"list" else kind
        entry = (kind, connection.ttl(key) > 0, content)
        shapes.setdefault(name, []).append(entry)
    return {name: sorted(entries, key=repr) for name, entries in shapes.items()}


def run_frames(
    worker: SimpleWorker,
    submitter: FrameSubmitter,
    data_dir: Path,
    connection: redis.Redis[bytes],
) -> list[str]:
    ids = [
        submitter.enqueue(scene_frame(data_dir, CAMERA, frame_number=n, seed=n))
        for n in range(FRAMES)
    ]
    worker.work(burst=True)
    return [job_id for job_id in ids if job_id]


@pytest.mark.parametrize("batch", [4, 1], ids=["batches", "lone frames"])
def test_bulk_bookkeeping_leaves_redis_as_rqs_own_worker_does(
    batch: int,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    rqs_own = SimpleWorker(
        [rq_queue], connection=redis_conn, serializer=MsgpackSerializer, job_class=FrameJob
    )
    run_frames(rqs_own, submitter, fer_data_dir, redis_conn)
    by_rq = snapshot(redis_conn)
    history_by_rq = read_history(redis_conn, settings.key_prefix, CAMERA)
    redis_conn.flushdb()

    batch_settings(batch_max_frames=batch)
    ids = run_frames(worker, submitter, fer_data_dir, redis_conn)
    in_bulk = snapshot(redis_conn)
    history_bulk = read_history(redis_conn, settings.key_prefix, CAMERA)

    assert in_bulk == by_rq
    assert [r.frame_number for _, r in history_bulk] == list(range(FRAMES))
    assert [[f.label for f in r.faces] for _, r in history_bulk] == [
        [f.label for f in r.faces] for _, r in history_by_rq
    ]
    # and what RQ's own readers say about each job
    finished = FinishedJobRegistry(queue=rq_queue)
    started = StartedJobRegistry(queue=rq_queue)
    kept = submitter.settings.job_result_ttl > 0
    for job_id in ids:
        assert job_id not in started
        assert (job_id in finished) == kept == Job.exists(job_id, connection=redis_conn)
        if kept:
            job = Job.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)
            assert job.get_status() == JobStatus.FINISHED
            assert (job.return_value() or {}).get("status") == "ok"
    assert redis_conn.llen(rq_queue.intermediate_queue_key) == 0
    counts = read_counts(redis_conn, settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.processed, counts.settled) == (FRAMES, FRAMES, FRAMES)


def test_a_job_waiting_on_a_frame_finished_in_bulk_is_enqueued_and_run(
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    batch_settings(batch_max_frames=4)
    first, second = (scene_frame(fer_data_dir, CAMERA, frame_number=n, seed=n) for n in (0, 1))
    first_id = submitter.enqueue(first)
    submitter.enqueue(second)
    later = scene_frame(fer_data_dir, "cam-later", frame_number=0, seed=2)
    dependent = rq_queue.enqueue_call(PROCESS_FRAME, args=(later.encode(),), depends_on=first_id)
    assert dependent.get_status() == JobStatus.DEFERRED

    worker.work(burst=True)

    assert dependent.get_status(refresh=True) == JobStatus.FINISHED
    if submitter.settings.job_result_ttl == 0:  # the first job and its dependents set: gone
        assert not redis_conn.exists(f"rq:job:{first_id}", f"rq:job:{first_id}:dependents")
    assert len(read_history(redis_conn, settings.key_prefix, "cam-later")) == 1


def test_the_workers_own_heartbeat_goes_at_most_once_a_second(
    worker: FerWorker, redis_conn: redis.Redis[bytes]
) -> None:
    worker.register_birth()
    redis_conn.hdel(worker.key, "last_heartbeat")

    worker.heartbeat()
    first = redis_conn.hget(worker.key, "last_heartbeat")
    assert first is not None
    assert redis_conn.ttl(worker.key) == worker.worker_ttl + 60
    worker.heartbeat()  # within the second: skipped
    assert redis_conn.hget(worker.key, "last_heartbeat") == first

    worker.heartbeat(timeout=900)  # a timeout of its own: always sent
    assert redis_conn.hget(worker.key, "last_heartbeat") != first
    assert redis_conn.ttl(worker.key) == 900
