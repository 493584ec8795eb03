"""Everything on one machine, for the programs that need it (demo, analyze, bench).

Redis (embedded unless ``REDIS_URL`` is set) and a supervised local worker pool whose
workers have loaded their model by the time the context is entered.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import redis

from common.connection import connect_as
from common.defaults import DEFAULT_WORKER_START_TIMEOUT_SECONDS
from common.redis_server import EmbeddedRedis
from common.settings import Settings
from worker.pool import WorkerPool, wait_for_workers


@dataclass(frozen=True)
class LocalStack:
    settings: Settings  # with ``redis_url`` set
    connection: redis.Redis[bytes]
    pool: WorkerPool | None
    log_dir: str


@contextmanager
def local_stack(
    settings: Settings, workers: int, say: Callable[[str], None] = lambda _text: None
) -> Iterator[LocalStack]:
    """Redis plus ``workers`` local worker processes (0: rely on workers already serving)."""
    with ExitStack() as stack:
        if not settings.redis_url:
            server = stack.enter_context(EmbeddedRedis())
            settings = settings.with_changes(redis_url=server.url)
            say(f"embedded Redis on {server.url}")
        assert settings.redis_url is not None
        connection = connect_as(settings)
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ferstream-"))
        pool = None
        if workers > 0:
            settings = settings.with_changes(concurrency=workers)
            pool = stack.enter_context(WorkerPool(settings, log_dir=log_dir))
            stop = threading.Event()
            stack.callback(stop.set)
            threading.Thread(target=pool.supervise, args=(stop,), daemon=True).start()
            say(f"starting {workers} worker(s), loading the model (logs in {log_dir}) ...")
        wait_for_workers(
            connection, settings, max(1, workers), DEFAULT_WORKER_START_TIMEOUT_SECONDS
        )
        yield LocalStack(settings, connection, pool, log_dir)
