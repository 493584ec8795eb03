"""Serving metrics over HTTP: one endpoint per worker pool, one per producer.

A worker pool is N processes but one scrape target. Its processes run in
prometheus_client's multiprocess mode: each writes its values to files in a directory
named by ``PROMETHEUS_MULTIPROC_DIR`` (set by the pool in their environment only), and
the pool's endpoint sums those files on each scrape (``MultiProcessCollector``). The
directory is emptied when the pool starts, so values of an earlier run never leak in; a
worker that exits is marked dead, so its live gauges go with it. Counter and histogram
files of dead workers stay (a counter must not go backwards); they add one small file per
restart, and the directory is deleted when the pool stops.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import Collector

from common.errors import FerStreamError
from common.metrics import producer_metrics
from common.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: Path) -> Path:
    """Create ``path`` if needed and delete the value files a previous run left there."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


@contextmanager
def temporary_multiprocess_dir() -> Iterator[Path]:
    """A fresh, private multiprocess directory, deleted on exit."""
    path = Path(tempfile.mkdtemp(prefix="ferstream-metrics-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def mark_process_dead(path: Path, pid: int) -> None:
    """Forget the live gauges of worker ``pid`` (it exited or was killed)."""
    multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


def multiprocess_registry(path: Path, *collectors: Collector) -> CollectorRegistry:
    """A registry that sums every process's files in ``path``, plus ``collectors``."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    return registry


@dataclass
class MetricsEndpoint:
    """A running ``/metrics`` HTTP server; ``close`` stops it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> MetricsEndpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve_metrics(registry: CollectorRegistry, port: int, addr: str) -> MetricsEndpoint:
    """Serve ``registry`` on ``addr:port`` (port 0: any free port) from a daemon thread."""
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise FerStreamError(
            f"metrics endpoint: expected to listen on {addr}:{port}, got {exc.strerror or exc} "
            "(choose another port, or 0 to turn the endpoint off)"
        ) from exc
    return MetricsEndpoint(server, thread)


def serve_producer_metrics(settings: Settings) -> MetricsEndpoint | None:
    """Serve this producer process's metrics on ``settings.producer_metrics_port`` (0: none)."""
    if settings.producer_metrics_port == 0:
        return None
    producer_metrics()  # declared before the first scrape, so the families are listed at once
    return serve_metrics(REGISTRY, settings.producer_metrics_port, settings.metrics_addr)
