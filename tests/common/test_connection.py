from __future__ import annotations

import pytest

from common.connection import connect, redacted, redis_for
from common.errors import AccessDenied, BrokerUnavailable
from common.settings import Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user:s3cret@redis.internal:6380/2", "redis://redis.internal:6380/2"),
        ("rediss://user:p%40ss@host/0", "rediss://host/0"),
        ("redis://host:6379/0?password=s3cret&db=1", "redis://host:6379/0?db=1"),
        ("unix:///run/redis.sock?db=0", "unix:///run/redis.sock?db=0"),
    ],
)
def test_redacted(url: str, expected: str) -> None:
    assert redacted(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("redis://:s3cret@127.0.0.1:1/0", "cannot reach Redis at redis://127.0.0.1:1/0: "),
        ("redis://admin:s3cret@127.0.0.1:1/0", "cannot reach Redis at redis://127.0.0.1:1/0: "),
        ("redis://127.0.0.1:1/0?password=s3cret", "cannot reach Redis at redis://127.0.0.1:1/0"),
        ("http://:s3cret@127.0.0.1:1/0", "expected a redis://, rediss:// or unix:// URL"),
    ],
)
def test_unreachable_url_is_broker_unavailable_without_password(url: str, fragment: str) -> None:
    with pytest.raises(BrokerUnavailable) as caught:
        connect(url, connect_timeout=1)
    message = str(caught.value)
    assert fragment in message
    assert "s3cret" not in message
    assert "s3cret" not in repr(caught.value)


def test_wrong_password_is_access_denied_without_password(redis_url: str) -> None:
    """Not "unavailable": Redis answered, and refused the user (tests/security: ACL users)."""
    url = redis_url.replace("redis://", "redis://:s3cret@")
    with pytest.raises(AccessDenied) as caught:
        connect(url)
    assert "refused user 'default'" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_connect_returns_a_pinged_bytes_client(redis_url: str) -> None:
    client = connect(redis_url)
    client.set("k", "v")
    assert client.get("k") == b"v"  # bytes, as rq needs
    client.delete("k")
    client.close()


def test_redis_for_uses_the_configured_url(redis_url: str) -> None:
    with redis_for(Settings(redis_url=redis_url)) as (client, url):
        assert url == redis_url
        assert client.ping()


def test_redis_for_starts_and_stops_an_embedded_server() -> None:
    with redis_for(Settings(redis_url=None)) as (client, url):
        assert client.ping()
        assert url.startswith("redis://127.0.0.1:")
    with pytest.raises(BrokerUnavailable):
        connect(url, connect_timeout=1)
