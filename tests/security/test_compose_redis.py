"""docker-compose.yml's Redis, run for real: its command (as `docker-compose config`
resolves it, with and without the TLS override) started with Debian's redis-server 7 on
loopback. No Docker engine is needed: only the port and the certificate paths change."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.acl import PRODUCER, READER, ROLES, WORKER, password_variable
from common.connection import connect
from common.redis_access import RedisAccess, TlsOptions
from common.redis_server import free_port
from tests.faults.harness import wait_until
from tests.monitoring.test_compose import (
    COMPOSE,
    TLS_OVERRIDE,
    container_command,
    env_example,
    resolved,
)
from tests.security.certificates import Authority
from tests.security.servers import HOST, SERVER_HOSTS, system_redis_server


@pytest.fixture(params=["plain", "tls"])
def compose_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisAccess]:
    """The compose file's redis service on a free local port; the admin's access."""
    files = [COMPOSE] if request.param == "plain" else [COMPOSE, TLS_OVERRIDE]
    service = resolved(*files)["services"]["redis"]
    environment = {key: str(value) for key, value in service["environment"].items()}
    port = free_port(HOST)
    listen = environment["REDIS_LISTEN_ARGS"].replace("6379", str(port))
    tls = TlsOptions()
    if request.param == "tls":
        authority = Authority(tmp_path, "compose")
        pair = authority.issue("redis", SERVER_HOSTS)
        listen = (
            listen.replace("/tls/ca.crt", str(authority.ca_file))
            .replace("/tls/redis.crt", str(pair.cert))
            .replace("/tls/redis.key", str(pair.key))
        )
        tls = TlsOptions(ca_file=authority.ca_file)
    environment["REDIS_LISTEN_ARGS"] = f"{listen} --bind {HOST}"
    folder = Path(system_redis_server()).parent  # its redis-server first on PATH, not the venv's
    process = subprocess.Popen(
        container_command(service),
        env={**environment, "PATH": f"{folder}:/bin"},
        cwd=tmp_path,
        stdout=(tmp_path / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    scheme = "rediss" if request.param == "tls" else "redis"
    admin = RedisAccess(
        f"{scheme}://{HOST}:{port}/0", password=environment["REDIS_PASSWORD"], tls=tls
    )
    try:
        wait_until(lambda: _answers(admin), 10, "compose's redis-server to answer")
        yield admin
    finally:
        process.kill()
        process.wait()


def _answers(access: RedisAccess) -> bool:
    try:
        return bool(connect(access, connect_timeout=0.5).ping())
    except Exception:
        return False


def test_compose_redis_has_the_admin_and_the_three_users_with_their_env_passwords(
    compose_redis: RedisAccess,
) -> None:
    passwords = env_example()
    admin = connect(compose_redis)
    users = {_text(entry).split()[1] for entry in admin.acl_list()}
    assert users == {"default", *ROLES}
    for role in ROLES:
        password = passwords[password_variable(role)]
        assert connect(RedisAccess(compose_redis.url, role, password, compose_redis.tls)).ping()
    refused = [
        (PRODUCER, "XRANGE", "ferstream:stream:a", "-", "+"),  # a producer reads no results
        (READER, "RPUSH", "rq:queue:ferstream-frames", "x"),  # a reader enqueues nothing
        (WORKER, "FLUSHALL"),
    ]
    for role, *command in refused:
        assert b"no permissions" in admin.execute_command("ACL", "DRYRUN", role, *command)
    allowed = admin.execute_command(
        "ACL", "DRYRUN", PRODUCER, "RPUSH", "rq:queue:ferstream-frames", "x"
    )
    assert allowed == b"OK"
    assert list(admin.config_get("maxmemory-policy").values()) in ([b"noeviction"], ["noeviction"])


def test_compose_redis_keeps_every_password_off_its_command_line(
    compose_redis: RedisAccess,
) -> None:
    pid = int(connect(compose_redis).info("server")["process_id"])
    cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace")
    listing = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout
    for password in (value for key, value in env_example().items() if "PASSWORD" in key):
        assert password not in cmdline and password not in listing


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
