"""Finding the Redis master through Redis Sentinel, so clients outlive the master's host.

With ``FERSTREAM_REDIS_SENTINELS`` (``host:port,host:port``) and
``FERSTREAM_REDIS_SENTINEL_MASTER`` set, every process (producer, worker, reader, track
service, exporter) gets its client from redis-py's ``Sentinel.master_for``: each new
connection asks the sentinels where the master is now. After a failover the old
connections fail (``ConnectionError``: reset, refused, or "the previous master is now a
replica"), which is what a short Redis outage looks like to the project's clients, so
they ride it through as they ride a restart (``worker.rqworker.FerWorker.wait_for_redis``,
the producer's failed submits, the track service's backoff, the reader's resume).

``REDIS_URL`` still names the scheme (``rediss://``: TLS to the master, its replicas and
the sentinels, with the same CA), the data user and password, and the database; its host
and port are not used. The sentinels may ask for a user and password of their own
(``requirepass`` or ACL users on the sentinels): ``FERSTREAM_REDIS_SENTINEL_USERNAME``
and ``FERSTREAM_REDIS_SENTINEL_PASSWORD`` (or ``..._PASSWORD_FILE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection, SentinelManagedSSLConnection

# How long a client waits for one sentinel before it asks the next: a dead sentinel's
# host must not hold up every reconnection behind it.
SENTINEL_TIMEOUT_SECONDS = 1.0
# Connection options that go to the sentinels as well as to the master
_SHARED = ("driver_info", "lib_name", "lib_version")
_TLS_PREFIX = "ssl_"


class _ReplyGuard:
    """A sentinel-managed connection that drops itself when a read is cut short.

    redis-py's ``SentinelManagedConnection.read_response`` defaults
    ``disconnect_on_error`` to False (every other connection, its asyncio twin included,
    defaults to True; redis/redis-py#4292). So when anything but a Redis error (a signal
    handler's exception: RQ's warm stop while a worker blocks in its dequeue) interrupts
    a read, the connection goes back to the pool with the reply still on its way, and
    the next command reads the previous one's reply (a PING answered ``nil``, a MULTI's
    EXEC answered ``QUEUED``).
    """

    def read_response(self, *args: Any, disconnect_on_error: bool = True, **kw: Any) -> Any:
        return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kw)  # type: ignore[misc]


class GuardedSentinelConnection(_ReplyGuard, SentinelManagedConnection):
    pass


class GuardedSentinelSSLConnection(_ReplyGuard, SentinelManagedSSLConnection):
    pass


@dataclass(frozen=True)
class SentinelOptions:
    """Where the sentinels are, the master they watch, and the sentinels' own login."""

    addresses: tuple[tuple[str, int], ...]
    master: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.addresses or not self.master:
            raise ValueError(
                f"expected sentinel addresses and a master name, got {self.addresses!r} "
                f"and {self.master!r}"
            )

    @property
    def where(self) -> str:
        """``master 'name' via h1:p1,h2:p2``, for messages."""
        shown = ",".join(f"{host}:{port}" for host, port in self.addresses)
        return f"master {self.master!r} via sentinels {shown}"

    def sentinel_options(self, options: dict[str, Any], tls: bool) -> dict[str, Any]:
        """redis-py keywords for the connections to the sentinels themselves."""
        own: dict[str, Any] = {
            "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
            "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
            "retry": Retry(NoBackoff(), 0),  # the next sentinel is the retry
            **{key: value for key, value in options.items() if key in _SHARED},
        }
        if tls:
            own["ssl"] = True
            own.update({k: v for k, v in options.items() if k.startswith(_TLS_PREFIX)})
        if self.username is not None:
            own["username"] = self.username
        if self.password is not None:
            own["password"] = self.password
        return own

    def client(self, url: str, tls: bool, options: dict[str, Any]) -> redis.Redis[bytes]:
        """A client of the master the sentinels name, with ``url``'s user, password and
        database and redis-py ``options`` (timeouts, TLS checks, retry)."""
        data = _master_options(url, tls, options)
        manager = Sentinel(list(self.addresses), sentinel_kwargs=self.sentinel_options(data, tls))
        data.pop("ssl", None)  # the connection class says it
        guarded = GuardedSentinelSSLConnection if tls else GuardedSentinelConnection
        client: redis.Redis[bytes] = manager.master_for(
            self.master, connection_class=guarded, **data
        )
        return client

    def async_client(
        self, url: str, tls: bool, options: dict[str, Any]
    ) -> redis.asyncio.Redis[bytes]:
        """The asyncio client ``client`` makes (for the live view's server)."""
        data = _master_options(url, tls, options)
        own = {**self.sentinel_options(data, tls), "retry": AsyncRetry(NoBackoff(), 0)}
        manager = AsyncSentinel(list(self.addresses), sentinel_kwargs=own)
        client: redis.asyncio.Redis[bytes] = manager.master_for(self.master, **data)
        return client

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


def _master_options(url: str, tls: bool, options: dict[str, Any]) -> dict[str, Any]:
    """``url``'s user, password and database with ``options``: not its host and port."""
    parsed = redis.connection.parse_url(url)
    for unused in ("host", "port", "connection_class", "path"):
        parsed.pop(unused, None)
    data = {**parsed, **options}
    if tls:
        data["ssl"] = True
    return data
