"""``rediss://`` against a real TLS-only redis-server 7, certificates made by the test:
the server's certificate is verified by default (its CA, its name), a client
certificate is sent when the server asks for one, and no check can be skipped by the
URL alone. (The roles' own work over TLS is in ``test_roles``; a whole stack over TLS
in ``test_secrets``.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from common.connection import connect, connect_as
from common.errors import BrokerUnavailable
from common.redis_access import RedisAccess
from common.settings import Settings
from tests.security.certificates import Authority
from tests.security.servers import HOST, SERVER_HOSTS, Passwords, SecureRedis


def settings_for(server: SecureRedis, passwords: Passwords, **changes: object) -> Settings:
    """A producer's settings, as its environment would give them."""
    fields: dict[str, object] = {
        "redis_url": server.url,
        "redis_username": "producer",
        "redis_password": passwords.roles["producer"],
        "redis_tls_ca_file": server.authority.ca_file if server.authority else None,
    }
    return Settings(**{**fields, **changes})  # type: ignore[arg-type]


def test_rediss_with_the_servers_ca_connects_and_checks_its_name(
    tls_redis: SecureRedis, passwords: Passwords
) -> None:
    assert tls_redis.url.startswith(f"rediss://{HOST}:")
    client = connect_as(settings_for(tls_redis, passwords))
    assert client.ping()
    connection = client.connection_pool.get_connection()
    try:
        assert connection.check_hostname is True  # type: ignore[attr-defined]
    finally:
        client.connection_pool.release(connection)


def test_without_a_ca_file_the_systems_cas_are_used_and_a_private_ca_is_refused(
    tls_redis: SecureRedis, passwords: Passwords
) -> None:
    with pytest.raises(BrokerUnavailable) as caught:
        connect_as(settings_for(tls_redis, passwords, redis_tls_ca_file=None))
    assert "certificate verify failed" in str(caught.value)
    assert passwords.roles["producer"] not in str(caught.value)


def test_a_server_signed_by_another_ca_is_refused(
    tls_redis: SecureRedis, passwords: Passwords, tmp_path: Path
) -> None:
    other = Authority(tmp_path, "other")
    with pytest.raises(BrokerUnavailable) as caught:
        connect_as(settings_for(tls_redis, passwords, redis_tls_ca_file=other.ca_file))
    assert "certificate verify failed" in str(caught.value)


def test_a_certificate_for_another_name_is_refused_unless_the_name_check_is_off(
    start_redis: Callable[..., SecureRedis], authority: Authority, passwords: Passwords
) -> None:
    elsewhere = authority.issue("elsewhere", ("redis.elsewhere.example",))
    server = start_redis(authority=authority, server_pair=elsewhere)
    with pytest.raises(BrokerUnavailable) as caught:
        connect_as(settings_for(server, passwords))
    assert "mismatch" in str(caught.value) or "doesn't match" in str(caught.value)
    unchecked = settings_for(server, passwords, redis_tls_check_hostname=False)
    assert connect_as(unchecked).ping()  # the CA is still checked


def test_a_client_certificate_is_sent_when_the_server_asks(
    start_redis: Callable[..., SecureRedis], authority: Authority, passwords: Passwords
) -> None:
    server = start_redis(
        authority=authority,
        server_pair=authority.issue("server", SERVER_HOSTS),
        client_certificates=True,
    )
    with pytest.raises(BrokerUnavailable):
        connect_as(settings_for(server, passwords))
    client = authority.issue("client", ("producer",), client=True)
    with_cert = settings_for(
        server, passwords, redis_tls_cert_file=client.cert, redis_tls_key_file=client.key
    )
    assert connect_as(with_cert).ping()


def test_plain_text_to_a_tls_only_server_does_not_connect(
    tls_redis: SecureRedis, passwords: Passwords
) -> None:
    plain = tls_redis.url.replace("rediss://", "redis://")
    with pytest.raises(BrokerUnavailable):
        connect(RedisAccess(plain, "producer", passwords.roles["producer"]), connect_timeout=2)
