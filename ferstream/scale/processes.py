"""The real processes a scale scenario runs: redis-server nodes and ``ferstream``
commands, each with its log in a folder, optionally inside a network namespace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import redis

from common.errors import FerStreamError
from common.redis_access import RedisAccess
from common.redis_server import free_port, pubsub_output_limit_args

SYSTEM_REDIS_SERVER = Path("/usr/bin/redis-server")
STOP_SECONDS = 30.0


def system_redis_server() -> Path:
    """Debian's redis-server 7 (replication, Sentinel, ACL users and TLS), or a clear error."""
    found = SYSTEM_REDIS_SERVER if SYSTEM_REDIS_SERVER.is_file() else shutil.which("redis-server")
    if not found:
        raise FerStreamError(
            "expected Debian's redis-server 7 at /usr/bin/redis-server, got none "
            "(apt-get install redis-server redis-sentinel)"
        )
    return Path(found)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.002
) -> float:
    """Poll ``condition`` every ``poll`` seconds until true; the seconds it took.
    AssertionError after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"expected {what} within {timeout:.0f}s")
        time.sleep(poll)
    return time.monotonic() - started


def in_namespace(namespace: str | None, command: Sequence[str]) -> list[str]:
    """``command``, run inside network namespace ``namespace`` if one is named."""
    return ["ip", "netns", "exec", namespace, *command] if namespace else list(command)


def ferstream_command() -> list[str]:
    """The ``ferstream`` command, run by this interpreter."""
    return [sys.executable, "-c", "from ferstream.cli import run; run()"]


def produce_arguments(camera: str, data_dir: Path, fps: float, seconds: float) -> list[str]:
    """``ferstream produce`` of one synthetic-scenes camera for ``seconds``."""
    return [
        *("-v", "produce", "--camera-id", camera, "--source", f"scenes:{data_dir}"),
        *("--fps", str(fps), "--duration", str(seconds)),
    ]


@dataclass
class RedisNode:
    """A redis-server listening on ``host:port`` with its data in ``folder``, that a
    scenario can SIGKILL, pause (SIGSTOP: a silent server) and start again on the same
    port and folder."""

    folder: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free one on 127.0.0.1
    options: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)  # redis.conf lines (secrets: not argv)
    namespace: str | None = None
    tls: bool = False  # the port is a TLS port (the options name the certificates)
    admin: RedisAccess | None = None  # how ``client`` logs in (None: plain, default user)
    appendonly: bool = False  # an append-only file, synced as ``fsync`` says
    fsync: str = "everysec"
    executable: Path | None = None  # None: Debian's redis-server 7
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port("127.0.0.1")

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/0"

    def start(self) -> Self:
        config = self.folder / "redis.conf"
        config.write_text("".join(f"{line}\n" for line in self.config))
        config.chmod(0o600)
        persistence = ["--appendonly", "yes", "--appendfsync", self.fsync]
        command = [
            str(self.executable or system_redis_server()),
            str(config),
            *("--bind", self.host, *self.listen_args(), "--dir", str(self.folder)),
            *("--save", "", *(persistence if self.appendonly else ["--appendonly", "no"])),
            *("--protected-mode", "no", *pubsub_output_limit_args()),
            *self.options,
        ]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            in_namespace(self.namespace, command), stdout=log, stderr=subprocess.STDOUT
        )
        wait_until(self.answers, 10.0, f"redis-server on {self.host}:{self.port}")
        return self

    def listen_args(self) -> list[str]:
        """Where it listens: ``port``; with ``tls`` that is the TLS port, and there is no
        plain-text one."""
        if self.tls:
            return ["--port", "0", "--tls-port", str(self.port)]
        return ["--port", str(self.port)]

    def client(self) -> redis.Redis[bytes]:
        if self.admin is not None:
            return self.admin.client(socket_timeout=5, socket_connect_timeout=2)
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def pause(self) -> None:
        """SIGSTOP: it holds its connections and answers nothing, as a dropped network."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@dataclass
class Processes:
    """``ferstream`` commands started with one environment, their logs in ``folder``."""

    folder: Path
    env: dict[str, str]
    # each command in a session of its own, so ``kill_group`` takes its children too; the
    # kernel's autogroup scheduling then gives each session its own share of the CPU
    sessions: bool = True
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(
        self,
        name: str,
        arguments: Sequence[str],
        env: dict[str, str] | None = None,
        on: Callable[[list[str]], list[str]] | None = None,
    ) -> subprocess.Popen[bytes]:
        """``ferstream ARGUMENTS`` as ``name`` (its log: ``name.log``), run through ``on``
        (e.g. on a namespaced host: ``netns.Lan.command``) if given."""
        output = (self.folder / f"{name}.log").open("ab")
        command = [*ferstream_command(), *arguments]
        process = subprocess.Popen(
            on(command) if on else command,
            env={**os.environ, **self.env, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=self.sessions,
        )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_group(self, name: str) -> None:
        """SIGKILL ``name`` and every process it started (a host losing its power)."""
        process = self.running[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                if self.sessions:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
                process.wait()
