"""Fixtures of the security tests: fresh passwords, a CA, and servers with the ACL users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.certificates import Authority
from tests.security.servers import SERVER_HOSTS, Passwords, SecureRedis, system_redis_server


@pytest.fixture
def passwords() -> Passwords:
    return Passwords.fresh()


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    """The test's own CA, with a server certificate for localhost and 127.0.0.1."""
    return Authority(tmp_path, "test")


@pytest.fixture
def start_redis(tmp_path: Path, passwords: Passwords) -> Iterator[Callable[..., SecureRedis]]:
    """Start a ``SecureRedis`` (keywords as its constructor's); every one is killed after."""
    system_redis_server()
    started: list[SecureRedis] = []

    def start(**options: Any) -> SecureRedis:
        folder = tmp_path / f"redis-{len(started)}"
        folder.mkdir()
        server = SecureRedis(folder, passwords, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def acl_redis(start_redis: Callable[..., SecureRedis]) -> SecureRedis:
    """Redis with the three ACL users and an admin, plain text."""
    return start_redis()


@pytest.fixture
def tls_redis(start_redis: Callable[..., SecureRedis], authority: Authority) -> SecureRedis:
    """The same behind TLS only, its certificate signed by the test's CA."""
    return start_redis(authority=authority, server_pair=authority.issue("server", SERVER_HOSTS))
