"""A worker between two batches when Redis goes away: RQ writes the worker's ``idle``
state outside its own guard as each dequeue opens, so before the worker rode that write
through, a failover at that moment ended the worker (the pool restarted it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Queue
from rq.worker import WorkerStatus

from common.connection import connect
from common.metrics import worker_metrics
from common.serializer import MsgpackSerializer
from common.settings import Settings
from tests.faults.harness import RedisProcess
from worker.pipeline import FramePipeline
from worker.rqworker import FerWorker

OUTAGE_SECONDS = 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisProcess]:
    started = RedisProcess(tmp_path, appendonly=False).start()
    try:
        yield started
    finally:
        started.kill()


@pytest.fixture
def worker(server: RedisProcess, frame_pipeline: FramePipeline) -> FerWorker:
    """A registered worker, as it is between two batches."""
    settings = Settings(redis_url=server.url)
    connection = connect(server.url)
    queue = Queue(settings.queue_name, connection=connection, serializer=MsgpackSerializer)
    worker = FerWorker(
        [queue],
        settings=settings,
        pipeline=frame_pipeline,
        metrics=worker_metrics(),
        connection=connection,
    )
    worker.register_birth()  # type: ignore[no-untyped-call]
    return worker


def test_the_idle_state_waits_for_redis_and_is_written_once_it_answers(
    server: RedisProcess, worker: FerWorker
) -> None:
    server.kill()
    restart = threading.Timer(OUTAGE_SECONDS, server.start)
    restart.start()
    worker.set_state(WorkerStatus.IDLE)  # raised ConnectionError before
    restart.join()

    client = server.client()
    assert client.hget(worker.key, "state") == b"idle"
    # the restart lost the server's memory: the worker registered anew
    assert client.hexists(worker.key, "birth")
    assert client.sismember("rq:workers", worker.key)


def test_a_worker_stopping_while_redis_is_down_stops_with_a_warning(
    server: RedisProcess, worker: FerWorker
) -> None:
    server.kill()
    worker.stopping = True  # a stop requested: no wait for a Redis that may not return
    worker.set_state(WorkerStatus.IDLE)
    worker.register_death()  # RQ's teardown: raised ConnectionError before
