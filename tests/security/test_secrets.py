"""No secret leaks from a real run: a ``ferstream worker`` pool, a ``ferstream produce``
camera and a ``ferstream results --follow`` reader, each logged in as its own ACL user,
over ``rediss://`` to a TLS-only redis-server 7. The passwords reach them by a password
file (workers), the environment (producer) and the URL in the environment (reader); none
may appear in ``ps`` or ``/proc/<pid>/cmdline`` of any of them (the pool's workers
included), in their logs, in their metrics endpoints, or anywhere in Redis's data (job
hashes, results, counters). Redis's ACL log stays empty: nothing the real processes sent
was refused. Refused users get one-line errors without a password."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from common.acl import PRODUCER, READER, WORKER
from common.redis_server import free_port
from tests.faults.harness import Stack, ferstream_command, ledger, settled, wait_until
from tests.security.certificates import Authority
from tests.security.servers import HOST, SERVER_HOSTS, Passwords, SecureRedis

CAMERA = "door"
RUN_SECONDS = 8.0


@pytest.fixture
def tls_stack(
    tmp_path: Path,
    start_redis: Callable[..., SecureRedis],
    authority: Authority,
    fer_data_dir: Path,
) -> Iterator[Stack]:
    server = start_redis(authority=authority, server_pair=authority.issue("server", SERVER_HOSTS))
    common = {
        "FERSTREAM_REDIS_TLS_CA_FILE": str(authority.ca_file),
        "FERSTREAM_JOB_RESULT_TTL": "600",  # keep finished jobs: their data is checked too
    }
    stack = Stack(server, tmp_path, fer_data_dir, common)
    yield stack
    stack.stop()


def role_env(stack: Stack, passwords: Passwords, folder: Path) -> dict[str, dict[str, str]]:
    """Each role's own credentials, each by another route (never argv)."""
    password_file = folder / "worker.password"
    password_file.write_text(passwords.roles[WORKER] + "\n")
    password_file.chmod(0o600)
    port = stack.server.port
    return {
        WORKER: {
            "FERSTREAM_REDIS_USERNAME": WORKER,
            "FERSTREAM_REDIS_PASSWORD_FILE": str(password_file),
            "FERSTREAM_METRICS_PORT": str(free_port(HOST)),
        },
        PRODUCER: {
            "FERSTREAM_REDIS_USERNAME": PRODUCER,
            "FERSTREAM_REDIS_PASSWORD": passwords.roles[PRODUCER],
            "FERSTREAM_PRODUCER_METRICS_PORT": str(free_port(HOST)),
        },
        READER: {"REDIS_URL": f"rediss://{READER}:{passwords.roles[READER]}@{HOST}:{port}/0"},
    }


@pytest.mark.slow
def test_a_real_run_over_tls_leaks_no_secret(
    tls_stack: Stack, passwords: Passwords, tmp_path: Path
) -> None:
    envs = role_env(tls_stack, passwords, tmp_path)
    admin = tls_stack.server.client()
    tls_stack.start_pool(1, envs[WORKER])
    tls_stack.start_reader(CAMERA, envs[READER])
    tls_stack.start_camera(CAMERA, fps=4, seconds=RUN_SECONDS, env=envs[PRODUCER])
    wait_until(lambda: ledger(admin, CAMERA).counts.processed >= 3, 60, "frames processed")

    running = all_pids([process.pid for process in tls_stack.processes])
    assert len(running) >= 4  # pool, its worker, camera, reader
    shown = [cmdline(pid) for pid in running] + [ps_listing()]
    endpoints = [
        envs[WORKER]["FERSTREAM_METRICS_PORT"],
        envs[PRODUCER]["FERSTREAM_PRODUCER_METRICS_PORT"],
    ]
    metrics = [scrape(int(port)) for port in endpoints]
    assert "ferstream_frames_processed_total" in metrics[0]
    assert "ferstream_broker_up 1.0" in metrics[0]  # the pool's scrape reads Redis as `worker`
    assert "ferstream_frames_submitted_total" in metrics[1]

    tls_stack.wait_cameras(timeout=60)
    wait_until(lambda: settled(admin, [CAMERA]), 60, "every frame settled")
    processed = ledger(admin, CAMERA).counts.processed
    wait_until(lambda: printed(tls_stack) >= processed, 30, "the reader to print every result")
    tls_stack.stop()

    logs = [path.read_text(errors="replace") for path in sorted(tmp_path.rglob("*.log"))]
    assert any("worker" in log for log in logs)
    data = redis_contents(admin)
    assert any(key.startswith(b"rq:job:") for key in data)  # job data was there to look at
    for secret in passwords.all():
        for where, texts in (("argv", shown), ("metrics", metrics), ("logs", logs)):
            assert not any(secret in text for text in texts), f"a password in {where}"
        assert not any(secret.encode() in blob for blob in data.values()), "a password in Redis"
    assert tls_stack.server.acl_log() == []  # pool, workers, camera, reader: nothing refused


@pytest.mark.parametrize(
    ("command", "role", "password", "says"),
    [
        (["produce", "--camera-id", CAMERA, "--max-frames", "1"], PRODUCER, "wrong", "refused"),
        (["results", "--camera", CAMERA], PRODUCER, None, "no permissions"),
        (["results", "--camera", CAMERA], READER, "wrong", "refused"),
    ],
    ids=["producer-wrong-password", "producer-reads-results", "reader-wrong-password"],
)
def test_a_refused_command_exits_with_one_line_and_no_password(
    tls_redis: SecureRedis,
    passwords: Passwords,
    fer_data_dir: Path,
    command: list[str],
    role: str,
    password: str | None,
    says: str,
) -> None:
    secret = passwords.roles[role] if password is None else f"{password}-{passwords.admin[::-1]}"
    env = {
        **Stack(tls_redis, Path(), fer_data_dir).env(),
        "FERSTREAM_SOURCE": f"scenes:{fer_data_dir}",
        "FERSTREAM_REDIS_TLS_CA_FILE": str(tls_redis.authority.ca_file),  # type: ignore[union-attr]
        "FERSTREAM_REDIS_USERNAME": role,
        "FERSTREAM_REDIS_PASSWORD": secret,
    }
    done = subprocess.run(
        [*ferstream_command(), *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: Redis ") and f"user {role!r}" in line and says in line
    for each in [secret, *passwords.all()]:
        assert each not in done.stderr and each not in done.stdout


# -- where a secret could show ------------------------------------------------------------


def all_pids(roots: list[int]) -> list[int]:
    """``roots`` and every live descendant (a pool's worker processes)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def ps_listing() -> str:
    listing = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True)
    return listing.stdout


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return text


def printed(stack: Stack) -> int:
    return sum(line.startswith("{") for line in stack.log(f"reader-{CAMERA}.log").splitlines())


def redis_contents(client: redis.Redis[bytes]) -> dict[bytes, bytes]:
    """Every key's whole value as bytes (hash fields and values, list and set members,
    stream entries, strings)."""
    contents: dict[bytes, bytes] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            items = client.hgetall(key).items()
            value = b"\n".join(field + b"=" + data for field, data in items)
        elif kind == b"list":
            value = b"\n".join(client.lrange(key, 0, -1))
        elif kind == b"set":
            value = b"\n".join(client.smembers(key))
        elif kind == b"zset":
            value = b"\n".join(client.zrange(key, 0, -1))
        elif kind == b"stream":
            value = b"\n".join(repr(entry).encode() for entry in client.xrange(key))
        elif kind == b"string":
            value = client.get(key) or b""
        else:
            value = b""
        contents[key] = value
    return contents
