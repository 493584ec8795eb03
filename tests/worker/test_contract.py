"""The contract with RQ: ``FerWorker`` leaves Redis as RQ's own worker leaves it.

The same jobs run through RQ's own ``SimpleWorker`` (one job at a time: RQ's
``perform_job`` calls ``worker.jobs.process_frame``) and through ``FerWorker`` (in
batches, and a lone frame as a batch of one: ``worker.batch``), on the real Redis with
the real pipeline; the tests compare the keys, registries, job statuses, results and
counters that RQ's tools and the project's readers see afterwards.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from common.accounting import UNKNOWN_CAMERA, read_counts
from common.results import read_history
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.worker import BAD_CAMERA, bad_jobs, scene_frame
from worker.jobs import PROCESS_FRAME
from worker.rqworker import FerWorker

FRAMES = 6
CAMERA = "cam-bulk"
JOB_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXECUTION_ID = re.compile(rb"[0-9a-f]{32}")
WORKER_NAME = re.compile(rb"worker:[^:]+$")
MAINTENANCE_MARK = b"rq:clean"  # a worker's throttle on its own sweeps, set once per interval
TIMESTAMP = re.compile(rb"^\d{4}-\d\d-\d\dT")
# exc_info: RQ's traceback runs through its own perform_job; the error itself is compared
VOLATILE_FIELDS = {b"data", b"description", b"total_working_time", b"exc_info"}


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


def rqs_own_worker(rq_queue: Queue, connection: redis.Redis[bytes]) -> SimpleWorker:
    return SimpleWorker(
        [rq_queue], connection=connection, serializer=MsgpackSerializer, job_class=FrameJob
    )


@pytest.mark.usefixtures("rq_worker_env")
@pytest.mark.parametrize("batch", [4, 1], ids=["batches", "lone frames"])
def test_batches_leave_redis_as_rqs_own_worker_does(
    batch: int,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    run_frames(rqs_own_worker(rq_queue, redis_conn), submitter, fer_data_dir, redis_conn)
    by_rq = snapshot(redis_conn)
    history_by_rq = read_history(redis_conn, settings.key_prefix, CAMERA)
    redis_conn.flushdb()
    # a second run, by a new producer: the first one would count its frames the flush
    # took as lost by Redis (producer.tally), as after a restart without persistence
    submitter = FrameSubmitter(redis_conn, submitter.settings)

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


def enqueue_mixed(submitter: FrameSubmitter, rq_queue: Queue, data_dir: Path) -> dict[str, str]:
    """Good, stale and every kind of bad frame job, in one queue; their ids by name."""
    ids: dict[str, str] = {}
    for n in range(3):
        ids[f"good {n}"] = submitter.enqueue(scene_frame(data_dir, CAMERA, n, seed=n)) or ""
    stale = scene_frame(data_dir, CAMERA, 3, seed=3, captured_at=time.time() - 600)
    ids["stale"] = submitter.enqueue(stale) or ""
    for bad in bad_jobs():
        ids[bad.name] = rq_queue.enqueue_call(PROCESS_FRAME, args=(bad.payload,)).id
    return ids


def last_line(exc_string: str) -> str:
    """The error a failure's text ends with (its type and message), without the traceback."""
    return exc_string.strip().splitlines()[-1]


def what_rq_says(
    ids: dict[str, str], rq_queue: Queue, connection: redis.Redis[bytes], prefix: str
) -> dict[str, Any]:
    """Per job: its status, registries and the last line of its failure; per camera: counts."""
    registries = {
        "started": StartedJobRegistry(queue=rq_queue),
        "finished": FinishedJobRegistry(queue=rq_queue),
        "failed": FailedJobRegistry(queue=rq_queue),
    }
    jobs: dict[str, Any] = {}
    for name, job_id in ids.items():
        if not Job.exists(job_id, connection=connection):
            jobs[name] = "deleted"
            continue
        job = Job.fetch(job_id, connection=connection, serializer=MsgpackSerializer)
        result = job.latest_result()
        returned = {k: v for k, v in (job.return_value() or {}).items() if k != "age"}
        jobs[name] = (
            job.get_status(),
            sorted(kind for kind, registry in registries.items() if job_id in registry),
            last_line(result.exc_string) if result and result.exc_string else returned,
        )
    cameras = (CAMERA, BAD_CAMERA, UNKNOWN_CAMERA)
    counts = {camera: read_counts(connection, prefix, camera) for camera in cameras}
    return {"jobs": jobs, "counts": counts}


@pytest.mark.usefixtures("rq_worker_env")
@pytest.mark.parametrize("batch", [4, 1], ids=["batches", "lone frames"])
def test_good_stale_and_bad_jobs_end_as_with_rqs_own_worker(
    batch: int,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    ids = enqueue_mixed(submitter, rq_queue, fer_data_dir)
    rqs_own_worker(rq_queue, redis_conn).work(burst=True)
    by_rq = snapshot(redis_conn), what_rq_says(ids, rq_queue, redis_conn, settings.key_prefix)
    redis_conn.flushdb()
    submitter = FrameSubmitter(redis_conn, submitter.settings)  # a new producer, as above

    batch_settings(batch_max_frames=batch)
    ids = enqueue_mixed(submitter, rq_queue, fer_data_dir)
    worker.work(burst=True)
    by_worker = snapshot(redis_conn), what_rq_says(ids, rq_queue, redis_conn, settings.key_prefix)

    assert by_worker[0] == by_rq[0]  # every key, its type, expiry and contents' shape
    assert by_worker[1]["jobs"] == by_rq[1]["jobs"]
    assert by_worker[1]["counts"] == by_rq[1]["counts"]
    counts = by_worker[1]["counts"]
    assert counts[CAMERA].processed == 3 and counts[CAMERA].dropped == {"stale": 1}
    assert sum(c.settled for c in counts.values()) == len(ids)  # every job counted once
    assert redis_conn.llen(rq_queue.intermediate_queue_key) == 0


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
