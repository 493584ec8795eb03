"""``ferstream worker --concurrency N``: N worker processes on one host, restarted if they die.

Each worker is a fresh ``python -m worker`` process, configured through the environment
from the pool's settings. The pool converts the model for LiteRT once before it starts
them (``worker.model_file``), so N workers never convert it N times side by side.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Queue, Worker

from common.connection import connect_as
from common.errors import BrokerUnavailable, FerStreamError
from common.metrics_server import MULTIPROC_ENV, mark_process_dead, prepare_multiprocess_dir
from common.persistence import check_frames_database, checks_persistence
from common.serializer import MsgpackSerializer
from common.settings import Settings
from worker.reaping import reap

log = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = (1.0, 30.0)
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 20.0


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    name: str = ""  # the running process's worker name
    generation: int = 0
    failures: int = 0
    restart_at: float = 0.0
    finished: bool = False


class WorkerPool:
    """Starts, watches and stops ``concurrency`` worker processes."""

    def __init__(
        self,
        settings: Settings,
        burst: bool = False,
        log_dir: str | None = None,
        metrics_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.burst = burst
        self.log_dir = log_dir
        # prometheus_client multiprocess directory of the workers (None: no metrics files)
        self.metrics_dir = metrics_dir
        self.restarts = 0
        self._slots = [_Slot(i) for i in range(settings.concurrency)]
        self._stopping = threading.Event()
        self._host = f"{socket.gethostname()}.{os.getpid()}"
        self._connection: redis.Redis[bytes] | None = None  # for reaping dead workers

    def start(self) -> WorkerPool:
        from worker.model_file import serving_model

        serving_model(self.settings.model_path, self.settings.cache_dir)
        self._check_frames_database()
        if self.metrics_dir is not None:
            prepare_multiprocess_dir(self.metrics_dir)
        for slot in self._slots:
            self._spawn(slot)
        return self

    def _spawn(self, slot: _Slot) -> None:
        slot.generation += 1
        name = f"{self._host}.w{slot.index}.{slot.generation}"
        slot.name = name
        command = [sys.executable, "-m", "worker", "--name", name]
        if self.burst:
            command.append("--burst")
        env = {**os.environ, **self.settings.to_env()}
        if self.metrics_dir is not None:
            env[MULTIPROC_ENV] = str(self.metrics_dir)
        output = None
        if self.log_dir:
            output = open(os.path.join(self.log_dir, f"worker-{slot.index}.log"), "ab")  # noqa: SIM115
        slot.process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        log.info("started worker %s (pid %d)", name, slot.process.pid)

    def poll(self) -> None:
        """Restart any worker that died (with backoff); note workers that finished a burst."""
        now = time.monotonic()
        for slot in self._slots:
            if slot.finished or self._stopping.is_set():
                continue
            if slot.process is None:
                if now >= slot.restart_at:
                    self._spawn(slot)
                continue
            code = slot.process.poll()
            if code is None:
                continue
            self._forget(slot.process.pid)
            if code == 0 and self.burst:
                slot.finished = True
                continue
            self._reap(slot.name)
            slot.failures += 1
            delay = min(
                RESTART_BACKOFF_SECONDS[1], RESTART_BACKOFF_SECONDS[0] * 2 ** (slot.failures - 1)
            )
            log.warning("worker %d exited with %s: restarting in %.0fs", slot.index, code, delay)
            slot.process, slot.restart_at = None, now + delay
            self.restarts += 1

    def supervise(self, stop: threading.Event | None = None) -> None:
        """Watch the workers until ``stop`` is set or, in burst mode, all have finished."""
        while not (stop and stop.is_set()) and not self._stopping.is_set():
            self.poll()
            if self.burst and all(slot.finished for slot in self._slots):
                return
            time.sleep(POLL_SECONDS)

    def _check_frames_database(self) -> None:
        """Before any worker starts: warn, or under strict privacy refuse, if the frames
        database persists to disk (each worker checks again as it starts)."""
        try:
            if self._connection is None:
                self._connection = connect_as(self.settings)
            if checks_persistence(self.settings):
                check_frames_database(self._connection, self.settings.strict)
        except (redis.ConnectionError, redis.TimeoutError, BrokerUnavailable) as exc:
            log.warning("could not check the frames database's persistence now: %s", exc)

    def _reap(self, name: str) -> None:
        """Settle a dead worker's frames at the next sweep and drop its registration."""
        try:
            if self._connection is None:
                self._connection = connect_as(self.settings)
            reap(self._connection, self.settings, name)
        except (FerStreamError, redis.RedisError) as exc:  # its TTLs settle it later
            log.warning("could not reap worker %s now: %s", name, exc)

    def _forget(self, pid: int) -> None:
        """Drop an exited worker's live gauges from the pool's metrics."""
        if self.metrics_dir is not None:
            mark_process_dead(self.metrics_dir, pid)

    @property
    def worker_name_prefix(self) -> str:
        """Every worker of this pool has a name starting with this."""
        return f"{self._host}."

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots if s.process and s.process.poll() is None]

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Warm shutdown: workers finish their current job and exit; killed after ``grace``."""
        self._stopping.set()
        running = [s.process for s in self._slots if s.process and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in %.0fs: killing it", process.pid, grace)
                process.kill()
                process.wait()
            self._forget(process.pid)

    def wait_until_serving(
        self, connection: redis.Redis[bytes], count: int, timeout: float
    ) -> None:
        """Block until ``count`` of this pool's processes (not an earlier pool's) listen."""
        wait_for_workers(connection, self.settings, count, timeout, among=lambda: set(self.pids))

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_workers(
    connection: redis.Redis[bytes],
    settings: Settings,
    count: int,
    timeout: float,
    among: Callable[[], Collection[int]] | None = None,
) -> None:
    """Block until ``count`` workers listen on the queue (their model is loaded by then);
    with ``among``, only workers whose process id it returns count."""
    queue = Queue(settings.queue_name, connection=connection, serializer=MsgpackSerializer)
    deadline = time.monotonic() + timeout
    while _listening(connection, queue, among) < count:
        if time.monotonic() > deadline:
            raise FerStreamError(f"expected {count} workers within {timeout:.0f}s; see worker logs")
        time.sleep(0.5)


def _listening(
    connection: redis.Redis[bytes], queue: Queue, among: Callable[[], Collection[int]] | None
) -> int:
    if among is None:
        return Worker.count(connection=connection, queue=queue)
    pids = among()
    return sum(worker.pid in pids for worker in Worker.all(connection=connection, queue=queue))
