"""``ferstream acl``'s output makes working users on a real redis-server 7: as ``ACL
SETUSER`` commands sent to a running server, and as an ACL file it starts with (every
other test in this package)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from common.acl import ROLES, password_variable
from common.connection import connect
from common.redis_access import RedisAccess
from tests.faults.harness import RedisProcess, ferstream_command
from tests.security.servers import Passwords, SecureRedis, system_redis_server


def test_setuser_lines_make_the_three_users_on_a_running_server(
    tmp_path: Path, passwords: Passwords
) -> None:
    server = RedisProcess(tmp_path, executable=system_redis_server()).start()
    try:
        env = {password_variable(role): password for role, password in passwords.roles.items()}
        printed = subprocess.run(
            [*ferstream_command(), "acl"],
            env={**_base_env(), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        admin = server.client()
        for line in printed.splitlines():
            assert admin.execute_command(*line.split()) == b"OK"
        users = {_text(entry).split()[1] for entry in admin.acl_list()}
        assert set(ROLES) <= users
        for role in ROLES:
            access = RedisAccess(server.url, username=role, password=passwords.roles[role])
            assert connect(access).ping()
        assert not any(secret in printed for secret in passwords.all())
    finally:
        server.kill()


def test_an_acl_file_from_ferstream_acl_starts_the_server_with_the_three_users(
    acl_redis: SecureRedis,
) -> None:
    text = acl_redis.acl_path.read_text()
    assert [line.split()[1] for line in text.splitlines()] == [*ROLES, "default"]
    for role in ROLES:
        assert connect(acl_redis.access(role)).ping()


def _base_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.endswith("_PASSWORD")}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
