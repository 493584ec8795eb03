"""What the benchmark samples while a run goes on: Redis memory, the workers' RSS, the
CPU time the workers, Redis and the benchmark's own producers and reader spend, and the
workers' model calls; and, for a soak, the processes' open file descriptors."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import redis

from common.metrics_server import multiprocess_registry
from ferstream.bench.results import MemoryRange, Watched

MIB = 1024 * 1024
SAMPLE_SECONDS = 0.25
MIN_FLAT_WINDOW_SECONDS = 10.0
# Flat = bounded: the settled window's second half peaks no higher than its first half,
# give or take this much. (A fitted slope is reported too, but frames coming and going,
# ~35 KiB each, and finished jobs if ``job_result_ttl`` keeps them, make used_memory
# swing by MiBs from one sample to the next, which tilts a one-minute fit either way.)
FLAT_MARGIN = 0.05  # of the first half's peak
FLAT_MARGIN_FLOOR_MIB = 1.0


def model_calls(metrics_dir: Path) -> tuple[float, float]:
    """(classifier calls, frames they served) so far, over the workers writing ``metrics_dir``."""
    samples = {
        sample.name: sample.value
        for metric in multiprocess_registry(metrics_dir).collect()
        if metric.name == "ferstream_batch_frames"
        for sample in metric.samples
    }
    return (
        samples.get("ferstream_batch_frames_count", 0.0),
        samples.get("ferstream_batch_frames_sum", 0.0),
    )


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process: psutil where installed, else /proc/<pid>/status."""
    try:
        import psutil
    except ImportError:
        return _proc_rss(pid)
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def _proc_rss(pid: int) -> int | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kib = [int(line.split()[1]) for line in lines if line.startswith("VmRSS:")]
    return kib[0] * 1024 if kib else None


def open_fds(pid: int) -> int | None:
    """Open file descriptors of a local process, from /proc/<pid>/fd; None if unreadable."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def local_redis_pid(connection: redis.Redis[bytes]) -> int | None:
    """The process id of the Redis server, when it runs on this machine; else None."""
    try:
        pid = int(connection.info("server")["process_id"])
        name = Path(f"/proc/{pid}/comm").read_text()
    except (redis.RedisError, KeyError, ValueError, OSError):
        return None
    return pid if pid > 0 and name.startswith("redis") else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a local process has used, from /proc; None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watcher:
    """Samples Redis ``used_memory`` and worker RSS in a thread; ``end`` summarises a run.

    Finished jobs keep their frame in Redis for ``job_result_ttl`` seconds (0 by
    default), and queued ones live up to ``max_frame_age`` before they are dropped, so
    memory under a steady load only levels off after ``settle`` seconds: flatness is
    judged after that.
    """

    def __init__(self, connection: redis.Redis[bytes], settle: float) -> None:
        self.connection = connection
        self.settle = settle
        self.pids: Callable[[], list[int]] = list
        self._samples: list[tuple[float, int, dict[int, int]]] = []
        self._lock = threading.Lock()
        self._mark = 0
        self._cpu_mark: dict[str, float | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                used = int(self.connection.info("memory")["used_memory"])
            except redis.RedisError:
                continue
            rss = {pid: value for pid in self.pids() if (value := rss_bytes(pid)) is not None}
            with self._lock:
                self._samples.append((time.time(), used, rss))

    def begin(self) -> None:
        """A run starts now."""
        with self._lock:
            self._mark = len(self._samples)
        self._cpu_mark = self._cpu()

    def _cpu(self) -> dict[str, float | None]:
        """CPU seconds so far of the workers, the Redis server (when local) and this process."""
        workers = [cpu_seconds(pid) for pid in self.pids()]
        redis_pid = local_redis_pid(self.connection)
        times = os.times()
        return {
            "workers": None if None in workers or not workers else sum(filter(None, workers)),
            "redis": None if redis_pid is None else cpu_seconds(redis_pid),
            "bench": times.user + times.system,
        }

    def end(self, start: float, duration: float) -> Watched:
        """Memory figures for the run begun last, whose load lasted ``duration`` from ``start``."""
        with self._lock:
            samples = self._samples[self._mark :]
        info = self.connection.info("memory")
        used = [u for _, u, _ in samples] or [int(info["used_memory"])]
        rss: dict[int, int] = {}
        for _, _, per_pid in samples:
            for pid, value in per_pid.items():
                rss[pid] = max(rss.get(pid, 0), value)
        growth, peaks, flat = self._flatness(samples, start, duration)
        cpu_now = self._cpu()
        return Watched(
            cpu_seconds={name: _spent(was, cpu_now[name]) for name, was in self._cpu_mark.items()},
            redis_used_mb=MemoryRange(_mib(used[0]), _mib(max(used)), _mib(used[-1])),
            redis_peak_mb=_mib(int(info["used_memory_peak"])),
            redis_growth_mb_per_min=growth,
            redis_settled_peaks_mb=peaks,
            redis_flat=flat,
            worker_rss_mb=[_mib(v) for v in rss.values()],
            load_avg_1m=round(os.getloadavg()[0], 2),
        )

    def _flatness(
        self, samples: list[tuple[float, int, dict[int, int]]], start: float, duration: float
    ) -> tuple[float | None, list[float] | None, bool | None]:
        """Once settled: the fitted growth of ``used_memory`` (MiB/min), the peaks of the
        window's two halves (MiB), and whether memory stayed flat (see ``FLAT_MARGIN``).

        All None when the load did not last ``settle`` + 10 s: too short to judge.
        """
        steady = [(t, u) for t, u, _ in samples if start + self.settle <= t <= start + duration]
        if len(steady) < 4 or steady[-1][0] - steady[0][0] < MIN_FLAT_WINDOW_SECONDS:
            return None, None, None
        times, used = np.asarray(steady, dtype=np.float64).T
        per_minute = float(np.polyfit(times - times[0], used, 1)[0]) * 60.0
        middle = (times[0] + times[-1]) / 2.0
        first, second = float(used[times <= middle].max()), float(used[times > middle].max())
        margin = max(FLAT_MARGIN_FLOOR_MIB * MIB, FLAT_MARGIN * first)
        peaks = [round(first / MIB, 2), round(second / MIB, 2)]
        return round(per_minute / MIB, 2), peaks, second <= first + margin


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


def _mib(value: int) -> float:
    return round(value / MIB, 2)
