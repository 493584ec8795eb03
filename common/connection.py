"""Reaching Redis: one place that connects, pings, and maps failures to BrokerUnavailable.

Clients are created with ``decode_responses=False``, as RQ requires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis

from common.errors import BrokerUnavailable
from common.redis_server import EmbeddedRedis
from common.settings import Settings

CONNECT_TIMEOUT_SECONDS = 5.0
# A reply that takes longer means Redis is paused or the network is gone: the call raises
# redis.TimeoutError instead of hanging. Workers add their blocking dequeue's wait to it.
SOCKET_TIMEOUT_SECONDS = 10.0
_SECRET_QUERY_KEYS = frozenset({"password", "username"})


def redacted(url: str) -> str:
    """``url`` without user name and password (in the authority or the query), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable Redis URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in _SECRET_QUERY_KEYS]
    )
    # built by hand: urlunsplit would turn "unix:///path" into "unix:/path"
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def connect(
    url: str,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
) -> redis.Redis[bytes]:
    """A client for ``url`` that has answered PING; else ``BrokerUnavailable``."""
    where = redacted(url)
    try:
        client: redis.Redis[bytes] = redis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
    except ValueError as exc:
        raise BrokerUnavailable(
            f"cannot reach Redis at {where}: expected a redis://, rediss:// or unix:// URL "
            f"({_scrub(str(exc), url)})"
        ) from None
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        raise BrokerUnavailable(f"cannot reach Redis at {where}: {_scrub(str(exc), url)}") from exc
    return client


def _scrub(reason: str, url: str) -> str:
    """Belt and braces: a client library's message must not carry the password either."""
    password = _password(url)
    return reason.replace(password, "***") if password else reason


@contextmanager
def redis_for(settings: Settings) -> Iterator[tuple[redis.Redis[bytes], str]]:
    """Yield ``(client, url)``: ``settings.redis_url``, or an embedded server run meanwhile."""
    with ExitStack() as stack:
        url = settings.redis_url
        if not url:
            url = stack.enter_context(EmbeddedRedis()).url
        client = connect(url)
        stack.callback(client.close)
        yield client, url
