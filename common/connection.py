"""Reaching Redis: one place that connects, pings, and maps failures onto the project's
errors: ``BrokerUnavailable`` (not reachable) and ``AccessDenied`` (a wrong password, or
a command the user's ACL forbids). No message carries a password.

Clients are created with ``decode_responses=False``, as RQ requires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import redis

from common.errors import AccessDenied, BrokerUnavailable
from common.redis_access import RedisAccess, redacted
from common.redis_server import EmbeddedRedis
from common.settings import Settings

__all__ = ["connect", "connect_as", "denied", "redacted", "redis_for", "ride_through"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
# A reply that takes longer means Redis is paused or the network is gone: the call raises
# redis.TimeoutError instead of hanging. Workers add their blocking dequeue's wait to it.
SOCKET_TIMEOUT_SECONDS = 10.0
ACL_HINT = "its ACL does not allow this (`ferstream acl` shows what each role may do)"
RIDE_THROUGH_BACKOFF_SECONDS = (0.2, 5.0)  # first and longest wait while Redis is away


def connect(
    target: str | RedisAccess,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
) -> redis.Redis[bytes]:
    """A client for ``target`` (a URL, or a ``RedisAccess``) that has answered PING;
    else ``BrokerUnavailable``, or ``AccessDenied`` if Redis refused its user."""
    access = target if isinstance(target, RedisAccess) else RedisAccess(target)
    client = access.client(socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        client.close()
        raise AccessDenied(
            f"Redis at {access.where} refused user {access.user!r}: {access.scrub(str(exc))} "
            "(check its password, and that the user exists and is on)"
        ) from None
    except redis.exceptions.NoPermissionError as exc:
        client.close()
        raise AccessDenied(
            f"Redis at {access.where} refused user {access.user!r}: "
            f"{access.scrub(str(exc))}; {ACL_HINT}"
        ) from None
    except (redis.RedisError, OSError) as exc:
        client.close()
        raise BrokerUnavailable(
            f"cannot reach Redis at {access.where}: {access.scrub(str(exc))}"
        ) from exc
    return client


def connect_as(
    settings: Settings,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
) -> redis.Redis[bytes]:
    """``connect`` with the URL, user, password and TLS checks ``settings`` name."""
    return connect(RedisAccess.from_settings(settings), connect_timeout, socket_timeout)


def denied(
    exc: redis.exceptions.NoPermissionError,
    client: redis.Redis[bytes] | redis.client.Pipeline[bytes],
) -> AccessDenied:
    """The ``AccessDenied`` for a command Redis refused ``client``'s user (its ACL)."""
    user = client.connection_pool.connection_kwargs.get("username") or "default"
    return AccessDenied(f"Redis refused user {user!r}: {exc}; {ACL_HINT}")


@contextmanager
def redis_for(settings: Settings) -> Iterator[tuple[redis.Redis[bytes], str]]:
    """Yield ``(client, url)``: ``settings.redis_url``, or an embedded server run meanwhile."""
    with ExitStack() as stack:
        if settings.redis_url:
            url, client = settings.redis_url, connect_as(settings)
        else:
            url = stack.enter_context(EmbeddedRedis()).url
            client = connect(url)
        stack.callback(client.close)
        yield client, url


def ride_through(
    stop: threading.Event,
    step: Callable[[], object],
    backoff: tuple[float, float] = RIDE_THROUGH_BACKOFF_SECONDS,
) -> None:
    """Call ``step`` until ``stop`` is set; while Redis cannot be reached, wait between
    tries, twice as long each time up to ``backoff[1]`` (a long-running service's loop)."""
    wait = backoff[0]
    while not stop.is_set():
        try:
            step()
            wait = backoff[0]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("Redis unreachable (%s): retrying in %.1f s", type(exc).__name__, wait)
            stop.wait(wait)
            wait = min(wait * 2.0, backoff[1])
