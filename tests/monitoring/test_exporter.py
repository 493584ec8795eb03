"""The pool's one scrape target: multiprocess files, broker gauges, health, ports.

Values are read back through real registries (``get_sample_value``) and, for the
endpoint, over HTTP from a real server on a free port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue, Worker

from common.errors import FerStreamError
from common.metrics import BrokerCollector
from common.metrics_server import (
    MULTIPROC_ENV,
    mark_process_dead,
    multiprocess_registry,
    prepare_multiprocess_dir,
    serve_metrics,
    temporary_multiprocess_dir,
)
from common.serializer import MsgpackSerializer
from common.settings import Settings
from tests.monitoring import REPO
from worker.healthcheck import check

# A worker process's recording, as jobs do it, in multiprocess mode.
CHILD = """
from common.metrics import worker_metrics
metrics = worker_metrics()
metrics.frames_processed.labels(camera="cam-1").inc({count})
metrics.record_failed("cam-1", "decode")
metrics.end_to_end_latency.labels(camera="cam-1").observe(0.12)
metrics.record_model("model-{count}", 48, flip_tta=False)
import os; print(os.getpid())
"""


@dataclass
class FakePool:
    """The part of a WorkerPool the collector reads: this test process plays a live worker."""

    worker_name_prefix: str = "host-a.1."
    pids: list[int] = field(default_factory=lambda: [os.getpid(), 2**22 + 1])
    restarts: int = 3


@pytest.fixture
def metrics_dir() -> Iterator[Path]:
    with temporary_multiprocess_dir() as path:
        yield path


def run_worker_process(path: Path, count: int) -> int:
    env = {**os.environ, MULTIPROC_ENV: str(path)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(count=count)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout.split()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_one_registry_sums_every_worker_process(metrics_dir: Path) -> None:
    first = run_worker_process(metrics_dir, count=2)
    second = run_worker_process(metrics_dir, count=3)
    registry = multiprocess_registry(metrics_dir)

    assert registry.get_sample_value("ferstream_frames_processed_total", {"camera": "cam-1"}) == 5
    failed = registry.get_sample_value(
        "ferstream_frames_failed_total", {"camera": "cam-1", "reason": "decode"}
    )
    assert failed == 2
    latency = {"camera": "cam-1"}
    assert registry.get_sample_value("ferstream_end_to_end_latency_seconds_count", latency) == 2
    assert {s.labels["model_id"] for s in _samples(registry, "ferstream_model_info")} == {
        "model-2",
        "model-3",
    }

    # a worker that exits: its live gauge goes, its counts stay (counters never go back)
    mark_process_dead(metrics_dir, first)
    registry = multiprocess_registry(metrics_dir)
    assert {s.labels["model_id"] for s in _samples(registry, "ferstream_model_info")} == {"model-3"}
    assert registry.get_sample_value("ferstream_frames_processed_total", {"camera": "cam-1"}) == 5
    assert not list(metrics_dir.glob(f"gauge_livemax_{first}.db"))
    assert list(metrics_dir.glob(f"gauge_livemax_{second}.db"))


def test_a_pool_starts_from_an_empty_directory(metrics_dir: Path) -> None:
    run_worker_process(metrics_dir, count=4)
    assert list(metrics_dir.glob("*.db"))

    prepare_multiprocess_dir(metrics_dir)

    assert not list(metrics_dir.glob("*.db"))
    registry = multiprocess_registry(metrics_dir)
    assert (
        registry.get_sample_value("ferstream_frames_processed_total", {"camera": "cam-1"}) is None
    )


def test_the_temporary_directory_is_removed() -> None:
    with temporary_multiprocess_dir() as path:
        (path / "counter_1.db").write_bytes(b"")
    assert not path.exists()


def test_broker_gauges_read_queue_depth_workers_and_memory(
    redis_conn: redis.Redis[bytes], rq_queue: Queue, settings: Settings
) -> None:
    for _ in range(3):
        rq_queue.enqueue_call("worker.jobs.process_frame", args=(b"x",))
    ours = Worker([rq_queue], connection=redis_conn, name="host-a.1.w0.1")
    ours.register_birth()
    theirs = Worker([rq_queue], connection=redis_conn, name="host-b.7.w0.1")
    theirs.register_birth()
    gone = Worker([rq_queue], connection=redis_conn, name="host-a.1.w1.1")
    gone.register_birth()
    redis_conn.hset(gone.key, "pid", 2**22 + 2)  # a killed worker of ours, still registered
    registry = CollectorRegistry()
    registry.register(BrokerCollector(redis_conn, [settings.queue_name], FakePool()))

    get = registry.get_sample_value
    assert get("ferstream_broker_up") == 1
    assert get("ferstream_queue_depth", {"queue": settings.queue_name}) == 3
    assert (get("ferstream_redis_memory_used_bytes") or 0) > 100_000
    assert get("ferstream_workers", {"state": "idle"}) == 1  # not host-b's, not the dead one
    assert get("ferstream_workers", {"state": "busy"}) == 0
    assert get("ferstream_worker_processes") == 2
    assert get("ferstream_worker_restarts_total") == 3
    for worker in (ours, theirs, gone):
        worker.register_death()


def test_an_unreachable_broker_reports_down_instead_of_failing_the_scrape(
    settings: Settings,
) -> None:
    unreachable = redis.Redis(
        port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    registry = CollectorRegistry()
    registry.register(BrokerCollector(unreachable, [settings.queue_name], FakePool()))

    assert registry.get_sample_value("ferstream_broker_up") == 0
    assert registry.get_sample_value("ferstream_queue_depth", {"queue": "ferstream-frames"}) is None
    assert registry.get_sample_value("ferstream_worker_processes") == 2  # the pool still knows


def test_the_healthcheck_wants_redis_and_a_registered_worker(
    redis_conn: redis.Redis[bytes], rq_queue: Queue, settings: Settings
) -> None:
    registry = CollectorRegistry()
    registry.register(BrokerCollector(redis_conn, [settings.queue_name], FakePool()))
    with serve_metrics(registry, 0, "127.0.0.1") as endpoint:
        url = f"http://127.0.0.1:{endpoint.port}/metrics"
        assert (
            check(url) == "expected at least 1 registered worker, got 0 (still loading the model?)"
        )
        worker = Worker(
            [rq_queue], connection=redis_conn, name="host-a.1.w0.1", serializer=MsgpackSerializer
        )
        worker.register_birth()
        assert check(url) is None
        worker.register_death()
    assert check(url, timeout=0.5) is not None  # the endpoint is gone


def test_a_taken_port_is_refused_with_a_readable_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FerStreamError, match=f"listen on 127.0.0.1:{port}.*0 to turn"):
            serve_metrics(CollectorRegistry(), port, "127.0.0.1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (9100, 0)),
        ({"FERSTREAM_METRICS_PORT": "0", "FERSTREAM_PRODUCER_METRICS_PORT": "9101"}, (0, 9101)),
    ],
)
def test_ports_are_settings(env: dict[str, str], expected: tuple[int, int]) -> None:
    settings = Settings.from_env(env)
    assert (settings.metrics_port, settings.producer_metrics_port) == expected


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(FerStreamError, match=f"metrics_port must be a TCP port 0..65535.*{port}"):
        Settings(metrics_port=port)


def _samples(registry: CollectorRegistry, name: str) -> list[Sample]:
    return [s for family in registry.collect() for s in family.samples if s.name == name]
