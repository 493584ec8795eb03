"""A worker pool's one scrape target: every worker process's metrics, plus the broker's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from redis.backoff import NoBackoff
from redis.retry import Retry

from common.metrics import BrokerCollector
from common.metrics_server import (
    MetricsEndpoint,
    multiprocess_registry,
    serve_metrics,
    temporary_multiprocess_dir,
)
from common.redis_access import RedisAccess
from common.settings import Settings
from worker.pool import WorkerPool

# A scrape must not hang on a stuck Redis: it reports ferstream_broker_up 0 instead.
SCRAPE_REDIS_TIMEOUT_SECONDS = 2.0


def serve_pool_metrics(pool: WorkerPool, port: int | None = None) -> MetricsEndpoint:
    """Serve ``pool``'s metrics on ``settings.metrics_addr`` and ``port`` (default: settings)."""
    settings = pool.settings
    if pool.metrics_dir is None:
        raise ValueError("expected a WorkerPool with a metrics_dir, got one without")
    connection = RedisAccess.from_settings(settings).client(
        socket_connect_timeout=SCRAPE_REDIS_TIMEOUT_SECONDS,
        socket_timeout=SCRAPE_REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # the next scrape is the retry
    )
    # the oldest stored result's age needs to read results: not as the ACL worker user
    readable = settings.redis_username in (None, "", "default")
    prefix = settings.key_prefix if readable else None
    collector = BrokerCollector(connection, [settings.queue_name], pool, prefix)
    registry = multiprocess_registry(pool.metrics_dir, collector)
    return serve_metrics(
        registry, settings.metrics_port if port is None else port, settings.metrics_addr
    )


@contextmanager
def monitored_pool(settings: Settings, burst: bool = False) -> Iterator[WorkerPool]:
    """A started pool serving its metrics on ``settings.metrics_port`` (0: no endpoint)."""
    with ExitStack() as stack:
        if settings.metrics_port == 0:
            yield stack.enter_context(WorkerPool(settings, burst=burst))
            return
        metrics_dir = stack.enter_context(temporary_multiprocess_dir())
        pool = WorkerPool(settings, burst=burst, metrics_dir=metrics_dir)
        stack.enter_context(serve_pool_metrics(pool))  # a taken port fails before workers start
        yield stack.enter_context(pool)
