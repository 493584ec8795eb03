"""Clients that find the master through real sentinels: settings, a password the
sentinels ask for, and a clear error (with no secret in it) when none names a master."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.sentinel import SentinelManagedSSLConnection

from common.connection import connect_as
from common.errors import BrokerUnavailable, FerStreamError
from common.redis_access import RedisAccess
from common.sentinel import GuardedSentinelSSLConnection
from common.settings import Settings
from ferstream.scale.processes import SYSTEM_REDIS_SERVER
from ferstream.scale.sentinels import MASTER_NAME, ReplicatedRedis


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedRedis]:
    if not SYSTEM_REDIS_SERVER.is_file():
        pytest.skip("needs Debian's redis-server 7 and redis-sentinel (apt-get install them)")
    folder = tmp_path_factory.mktemp("sentinel")
    made = ReplicatedRedis(Path(folder), sentinel_password=f"s-{secrets.token_hex(8)}")
    try:
        yield made.start()
    finally:
        made.stop()


def test_sentinel_settings_need_each_other_and_a_valid_list() -> None:
    with pytest.raises(FerStreamError, match="together"):
        Settings(redis_sentinels="h:26379")
    with pytest.raises(FerStreamError, match="expected host:port"):
        Settings(redis_sentinels="h:26379,nohost", redis_sentinel_master="m")
    settings = Settings(redis_sentinels="a:1, [::1]:2", redis_sentinel_master="m")
    assert settings.sentinels == [("a", 1), ("::1", 2)]
    assert settings.redis_url == "redis://m/0"  # no REDIS_URL: the master's name stands in
    again = Settings.from_env(settings.to_env())
    assert (again.sentinels, again.redis_url) == (settings.sentinels, settings.redis_url)


def test_a_client_reaches_the_master_the_sentinels_name(cluster: ReplicatedRedis) -> None:
    settings = Settings.from_env(cluster.env())
    client = connect_as(settings)
    client.set("ferstream-test:where", b"master")
    assert client.connection_pool.get_master_address() == ("127.0.0.1", cluster.master.port)
    assert cluster.master.client().get("ferstream-test:where") == b"master"
    shown = repr(RedisAccess.from_settings(settings))
    assert MASTER_NAME in shown and str(cluster.sentinel_password) not in shown


def test_the_asyncio_client_reaches_the_master_too(cluster: ReplicatedRedis) -> None:
    """The live view's server reads Redis through asyncio: it finds the master the same way."""
    cluster.master.client().set("ferstream-test:async", b"master")

    async def read() -> bytes | None:
        client = RedisAccess.from_settings(Settings.from_env(cluster.env())).async_client()
        try:
            return await client.get("ferstream-test:async")
        finally:
            await client.aclose()

    assert asyncio.run(read()) == b"master"


class Interrupted(Exception):
    """What a signal handler raises into a blocked read (RQ's ``StopRequested``)."""


def test_a_read_cut_short_leaves_no_reply_for_the_next_command(cluster: ReplicatedRedis) -> None:
    """A signal that interrupts a blocking read drops the connection: the next command
    reads its own reply, not the interrupted one's (redis-py's sentinel connection
    alone keeps such a connection by default, redis/redis-py#4292)."""
    client = connect_as(Settings.from_env(cluster.env()))
    client.set("ferstream-test:probe", b"value")

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            client.blpop(["ferstream-test:empty"], timeout=1)  # replies nil after 1 s
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert client.ping() is True  # not the BLPOP's nil
    assert client.get("ferstream-test:probe") == b"value"  # not the PING's PONG
    with client.pipeline() as transaction:  # RQ's register_death: a MULTI/EXEC
        transaction.hset("ferstream-test:h", "death", "now").expire("ferstream-test:h", 60)
        assert transaction.execute() == [1, True]


def test_a_wrong_sentinel_password_is_a_clear_error_without_it(cluster: ReplicatedRedis) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    env = {**cluster.env(), "FERSTREAM_REDIS_SENTINEL_PASSWORD": wrong}
    with pytest.raises(BrokerUnavailable, match="No master found") as caught:
        connect_as(Settings.from_env(env))
    message = str(caught.value)
    assert wrong not in message and str(cluster.sentinel_password) not in message
    assert f"master {MASTER_NAME!r} via sentinels" in message


def test_the_sentinel_password_can_come_from_a_file(
    cluster: ReplicatedRedis, tmp_path: Path
) -> None:
    path = tmp_path / "sentinel.password"
    path.write_text(f"{cluster.sentinel_password}\n")
    env = {**cluster.env(), "FERSTREAM_REDIS_SENTINEL_PASSWORD_FILE": str(path)}
    del env["FERSTREAM_REDIS_SENTINEL_PASSWORD"]
    assert connect_as(Settings.from_env(env)).ping()


def test_tls_reaches_the_master_and_the_sentinels_with_the_same_checks(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not read until a connection is made\n")
    settings = Settings(
        redis_url="rediss://worker@ferstream/2",
        redis_password="data-secret",
        redis_tls_ca_file=ca,
        redis_sentinels="s1:26379,s2:26379",
        redis_sentinel_master="ferstream",
        redis_sentinel_username="sentinel-user",
        redis_sentinel_password="sentinel-secret",
    )
    client = RedisAccess.from_settings(settings).client()
    data = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class is GuardedSentinelSSLConnection
    assert issubclass(GuardedSentinelSSLConnection, SentinelManagedSSLConnection)
    assert (data["ssl_ca_certs"], data["ssl_cert_reqs"], data["db"]) == (str(ca), "required", 2)
    assert (data["username"], data["password"]) == ("worker", "data-secret")
    manager = client.connection_pool.sentinel_manager
    own = manager.sentinels[0].connection_pool.connection_kwargs
    assert (own["username"], own["password"]) == ("sentinel-user", "sentinel-secret")
    assert own["ssl_ca_certs"] == str(ca)
    assert manager.sentinels[0].connection_pool.connection_class.__name__ == "SSLConnection"
    assert [(s.connection_pool.connection_kwargs["host"]) for s in manager.sentinels] == [
        "s1",
        "s2",
    ]
