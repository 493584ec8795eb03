"""The stack a benchmark runs against: a Redis of its own (or a shared one, left clean) and
a real ``WorkerPool``, one thread per worker process."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import redis

from common.connection import connect_as
from common.defaults import DEFAULT_WORKER_START_TIMEOUT_SECONDS
from common.metrics_server import temporary_multiprocess_dir
from common.redis_server import EmbeddedRedis
from common.settings import Settings
from worker.pool import WorkerPool


def broker(stack: ExitStack, settings: Settings, say: Callable[[str], None]) -> Settings:
    """Settings on a Redis of the run's own, or on ``REDIS_URL`` with its own queue and prefix."""
    external = bool(settings.redis_url)
    if not external:
        server = stack.enter_context(EmbeddedRedis())
        settings = settings.with_changes(redis_url=server.url)
        say(f"embedded Redis on {server.url}")
    name = f"ferstream-bench-{uuid.uuid4().hex[:8]}"
    settings = settings.with_changes(queue_name=name, key_prefix=name)
    if external:
        assert settings.redis_url is not None
        stack.callback(forget_keys, connect_as(settings), settings)
    return settings


def forget_keys(connection: redis.Redis[bytes], settings: Settings) -> None:
    """Delete the run's counters, streams and queue on a shared Redis (jobs expire alone)."""
    for pattern in (f"{settings.key_prefix}:*", f"rq:*:{settings.queue_name}"):
        for key in connection.scan_iter(match=pattern, count=500):
            connection.delete(key)
    connection.srem("rq:queues", f"rq:queue:{settings.queue_name}")


@contextmanager
def running_pool(
    connection: redis.Redis[bytes],
    settings: Settings,
    workers: int,
    log_dir: str,
    say: Callable[[str], None],
) -> Iterator[WorkerPool]:
    """A pool of ``workers`` processes, one thread each, with every one listening."""
    pool_settings = settings.with_changes(concurrency=workers, threads_per_worker=1)
    stop = threading.Event()
    say(f"starting {workers} worker(s) (logs in {log_dir}) ...")
    with (
        temporary_multiprocess_dir() as metrics_dir,
        WorkerPool(pool_settings, log_dir=log_dir, metrics_dir=metrics_dir) as pool,
    ):
        threading.Thread(target=pool.supervise, args=(stop,), daemon=True).start()
        try:
            pool.wait_until_serving(connection, workers, DEFAULT_WORKER_START_TIMEOUT_SECONDS)
            yield pool
        finally:
            stop.set()
