"""The whole system: producers -> Redis -> a pool of real ``python -m worker`` processes.

One pool of two workers serves the module; each test looks at what an operator sees:
every frame's result in its camera's stream, settled counters, failed jobs with readable
errors, the same worker processes still running, and a killed worker replaced.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from common.accounting import UNKNOWN_CAMERA, read_counts
from common.connection import connect
from common.errors import FerStreamError
from common.results import read_history
from common.serializer import MsgpackSerializer
from common.settings import Settings
from producer.runner import ProducerStats, run_producer
from producer.sources import open_source
from producer.submit import FrameSubmitter
from tests.conftest import TEST_KEY_PREFIX
from tests.worker import BAD_CAMERA, bad_jobs, scene_frame
from worker.jobs import PROCESS_FRAME
from worker.pool import WorkerPool, wait_for_workers

pytestmark = pytest.mark.slow

CAMERAS = ("cam-a", "cam-b")
FRAMES = 20
WORKERS = 2
START_SECONDS = 150.0  # two processes importing TensorFlow on a shared two-core machine
SETTLE_SECONDS = 60.0


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"expected {what} within {timeout:.0f}s")
        time.sleep(0.2)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def pool_settings(redis_url: str) -> Settings:
    # The machine is shared, so frames may wait: a long frame age and a blocking overflow
    # policy keep these tests about delivery (staleness and dropping are tested elsewhere).
    return Settings(
        redis_url=redis_url,
        key_prefix=TEST_KEY_PREFIX,
        concurrency=WORKERS,
        max_frame_age=60.0,
        overflow_policy="block",
    )


@pytest.fixture(scope="module")
def connection(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    client = connect(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def queue(connection: redis.Redis[bytes], pool_settings: Settings) -> Queue:
    return Queue(pool_settings.queue_name, connection=connection, serializer=MsgpackSerializer)


@pytest.fixture(scope="module")
def pool(
    pool_settings: Settings,
    connection: redis.Redis[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerPool]:
    """Two supervised worker processes with their model loaded; none left running afterwards."""
    log_dir = tmp_path_factory.mktemp("worker-logs")
    workers = WorkerPool(pool_settings, log_dir=str(log_dir)).start()
    started = list(workers.pids)
    stop = threading.Event()
    supervisor = threading.Thread(target=workers.supervise, args=(stop,), daemon=True)
    supervisor.start()
    try:
        try:
            wait_for_workers(connection, pool_settings, WORKERS, START_SECONDS)
        except FerStreamError as exc:
            logs = "\n".join(p.read_text()[-2000:] for p in sorted(log_dir.iterdir()))
            pytest.fail(f"{exc}\n{logs}")
        yield workers
    finally:
        every_pid = set(started) | set(workers.pids)
        stop.set()
        supervisor.join(timeout=5)
        workers.stop()
    assert workers.pids == []
    assert not [pid for pid in every_pid if alive(pid)], "worker processes left running"


def test_every_frame_of_every_camera_gets_exactly_one_result(
    pool: WorkerPool,
    connection: redis.Redis[bytes],
    pool_settings: Settings,
    fer_data_dir: Path,
) -> None:
    stats: dict[str, ProducerStats] = {}

    def produce(seed: int, camera_id: str) -> None:
        with open_source(f"scenes:{fer_data_dir}", seed=seed) as source:
            stats[camera_id] = run_producer(
                source,
                FrameSubmitter(connection, pool_settings),
                camera_id,
                target_fps=10,
                jpeg_quality=85,
                max_side=1280,
                max_frames=FRAMES,
            )

    producers = [threading.Thread(target=produce, args=item) for item in enumerate(CAMERAS)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join(timeout=30)
    assert {c: s.frames_submitted for c, s in stats.items()} == dict.fromkeys(CAMERAS, FRAMES)

    def settled() -> bool:
        counts = [read_counts(connection, pool_settings.key_prefix, c) for c in CAMERAS]
        return all(c.settled >= c.submitted for c in counts)

    wait_until(settled, SETTLE_SECONDS, "every frame processed, dropped or failed")
    workers_seen = set()
    for camera_id in CAMERAS:
        counts = read_counts(connection, pool_settings.key_prefix, camera_id)
        assert (counts.submitted, counts.processed, counts.dropped, counts.failed) == (
            FRAMES,
            FRAMES,
            {},
            {},
        )
        results = [r for _, r in read_history(connection, pool_settings.key_prefix, camera_id)]
        assert {r.camera_id for r in results} == {camera_id}
        assert sorted(r.frame_number for r in results) == list(range(FRAMES))  # once each
        assert sum(len(r.faces) for r in results) >= FRAMES // 2  # the scenes' faces are found
        workers_seen |= {r.worker_id for r in results}
    assert len(workers_seen) == WORKERS  # both processes served frames


def test_bad_jobs_fail_cleanly_while_the_workers_keep_serving(
    pool: WorkerPool,
    connection: redis.Redis[bytes],
    queue: Queue,
    pool_settings: Settings,
    fer_data_dir: Path,
    tmp_path: Path,
) -> None:
    pids, restarts = sorted(pool.pids), pool.restarts
    prefix = pool_settings.key_prefix
    before = {c: read_counts(connection, prefix, c) for c in (UNKNOWN_CAMERA, BAD_CAMERA)}
    marker = tmp_path / "marker"

    bad = {job.name: job for job in bad_jobs()}
    bad_ids = {
        name: queue.enqueue_call(PROCESS_FRAME, args=(job.payload,)).id for name, job in bad.items()
    }
    foreign_ids = [
        queue.enqueue_call("os.system", args=(f"touch {marker}",)).id,
        queue.enqueue_call("tests.worker.test_jobs.write_marker", args=(str(marker),)).id,
    ]
    with connection.pipeline() as batch:  # the job's data is replaced before any worker sees it
        undecodable = queue.enqueue_call(PROCESS_FRAME, args=(b"",), pipeline=batch)
        batch.hset(undecodable.key, "data", b"\xc1 not msgpack")
        batch.execute()
    FrameSubmitter(connection, pool_settings).enqueue(scene_frame(fer_data_dir, "cam-after"))

    def job(job_id: str) -> Job:
        return Job.fetch(job_id, connection=connection, serializer=MsgpackSerializer)

    everything = [*bad_ids.values(), *foreign_ids, undecodable.id]
    wait_until(
        lambda: (
            len(read_history(connection, prefix, "cam-after")) == 1
            and all(job(i).get_status() == JobStatus.FAILED for i in everything)
        ),
        SETTLE_SECONDS,
        "the bad jobs failed and the good frame after them published",
    )
    for name, job_id in bad_ids.items():
        result = job(job_id).latest_result()
        assert result is not None and result.exc_string is not None
        assert bad[name].says in result.exc_string, name
    for job_id in [*foreign_ids, undecodable.id]:
        result = job(job_id).latest_result()
        assert result is not None and result.exc_string is not None
        assert "ForeignJobRefused" in result.exc_string
    assert not marker.exists()

    expected = Counter((job.camera_id, job.reason) for job in bad.values())
    expected[(UNKNOWN_CAMERA, "foreign_job")] += len(foreign_ids) + 1
    for camera_id, earlier in before.items():
        now = read_counts(connection, prefix, camera_id)
        for reason in {r for c, r in expected if c == camera_id}:
            added = now.failed.get(reason, 0) - earlier.failed.get(reason, 0)
            assert added == expected[(camera_id, reason)], (camera_id, reason)
    assert sorted(pool.pids) == pids  # nobody crashed
    assert pool.restarts == restarts


def test_a_killed_worker_is_replaced(
    pool: WorkerPool,
    connection: redis.Redis[bytes],
    queue: Queue,
    pool_settings: Settings,
    fer_data_dir: Path,
) -> None:
    pids, restarts = list(pool.pids), pool.restarts
    victim = pids[0]

    os.kill(victim, signal.SIGKILL)

    wait_until(
        lambda: pool.restarts == restarts + 1 and len(pool.pids) == WORKERS,
        15,
        "the pool to notice the death and start a new process",
    )
    [replacement] = set(pool.pids) - set(pids)
    assert victim not in pool.pids and not alive(victim)
    wait_until(
        lambda: any(w.pid == replacement for w in Worker.all(queue=queue)),
        START_SECONDS,
        f"the new worker (pid {replacement}) to load its model and register",
    )
    FrameSubmitter(connection, pool_settings).enqueue(scene_frame(fer_data_dir, "cam-later"))
    wait_until(
        lambda: len(read_history(connection, pool_settings.key_prefix, "cam-later")) == 1,
        SETTLE_SECONDS,
        "a frame submitted after the restart to be served",
    )
