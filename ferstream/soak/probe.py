"""What a soak samples: every few seconds a ``Probe`` of the processes and the counters,
and throughout, the latency of every result read (``LatencyLog``). Consecutive probes
make a window (``window``), whose latencies are those of the results published in it.

Errors beyond the injected bad frames, so far (``errors_so_far``): for every reason, the
frames counted failed beyond the bad frames injected with that reason (a bad frame
cannot fail before it is queued; counters are read before the injections), plus frames
Redis refused, plus worker processes that died and were restarted.
"""

from __future__ import annotations

import os
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import redis

from common.accounting import read_counts
from common.wire import Result
from ferstream.bench.load import percentiles
from ferstream.bench.results import Reasons, merge_reasons
from ferstream.bench.watch import MIB, local_redis_pid, open_fds, rss_bytes
from ferstream.soak.badframes import BadFrameMixer
from ferstream.soak.results import SoakSample


@dataclass(frozen=True)
class Probe:
    """The processes and the counters (summed over the soak's cameras) at one moment."""

    at: float  # unix seconds
    worker_rss: dict[int, int]  # bytes by pid
    redis_used: int | None  # bytes
    fds: dict[str, int]
    processed: int
    dropped: Reasons
    failed: Reasons
    injected: Reasons
    submit_errors: int
    restarts: int
    load_avg_1m: float


def errors_so_far(probe: Probe) -> int:
    """Failures beyond the injected bad frames, refused frames and worker restarts."""
    beyond = sum(max(0, n - probe.injected.get(reason, 0)) for reason, n in probe.failed.items())
    return beyond + probe.submit_errors + probe.restarts


def failed_beyond(failed: Reasons, injected: Reasons) -> Reasons:
    """Failures, by reason, beyond the bad frames injected with that reason."""
    extra = {reason: n - injected.get(reason, 0) for reason, n in failed.items()}
    return {reason: n for reason, n in extra.items() if n > 0}


class Prober:
    """Takes ``Probe``s of a running soak: its workers (``pids``), Redis, this process."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        prefix: str,
        cameras: list[str],
        pids: Callable[[], list[int]],
        restarts: Callable[[], int],
        mixer: BadFrameMixer,
    ) -> None:
        self.connection = connection
        self.prefix = prefix
        self.cameras = cameras
        self.pids = pids
        self.restarts = restarts
        self.mixer = mixer
        self.redis_pid = local_redis_pid(connection)

    def probe(self) -> Probe:
        counts = [read_counts(self.connection, self.prefix, c) for c in self.cameras]
        injected = self.mixer.injected()  # after the counters: see the module's docstring
        pids = self.pids()
        return Probe(
            at=time.time(),
            worker_rss={pid: rss for pid in pids if (rss := rss_bytes(pid)) is not None},
            redis_used=self._redis_used(),
            fds=self._fds(pids),
            processed=sum(c.processed for c in counts),
            dropped=merge_reasons(c.dropped for c in counts),
            failed=merge_reasons(c.failed for c in counts),
            injected=injected,
            submit_errors=self.mixer.submit_errors(),
            restarts=self.restarts(),
            load_avg_1m=round(os.getloadavg()[0], 2),
        )

    def _redis_used(self) -> int | None:
        try:
            return int(self.connection.info("memory")["used_memory"])
        except (redis.RedisError, KeyError, ValueError):
            return None

    def _fds(self, pids: list[int]) -> dict[str, int]:
        processes = {f"worker {pid}": pid for pid in pids} | {"soak": os.getpid()}
        if self.redis_pid is not None:
            processes["redis"] = self.redis_pid
        return {name: n for name, pid in processes.items() if (n := open_fds(pid)) is not None}


class LatencyLog:
    """When each result read was published and its end-to-end latency, 16 bytes a result
    (a long soak need not hold the results), and how many were read per camera."""

    def __init__(self) -> None:
        self._published = array("d")
        self._latency = array("d")
        self._cameras: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, result: Result) -> None:
        with self._lock:
            self._published.append(result.published_at)
            self._latency.append(result.latency)
            self._cameras[result.camera_id] += 1

    def read(self, camera: str) -> int:
        with self._lock:
            return self._cameras[camera]

    def between(self, start: float, end: float) -> list[float]:
        """Latencies (s) of the results published in (start, end], unix seconds."""
        with self._lock:
            published = np.frombuffer(self._published, dtype=np.float64).copy()
            latency = np.frombuffer(self._latency, dtype=np.float64).copy()
        chosen = (published > start) & (published <= end)
        return [float(v) for v in latency[chosen]]


def window(
    before: Probe, after: Probe, latencies: LatencyLog, load_start: float, draining: bool
) -> SoakSample:
    """The window from ``before`` to ``after``: ``after``'s figures, and what changed."""
    seconds = latencies.between(before.at, after.at)
    return SoakSample(
        start_s=round(before.at - load_start, 2),
        end_s=round(after.at - load_start, 2),
        draining=draining,
        worker_rss_mb={str(pid): _mib(rss) for pid, rss in after.worker_rss.items()},
        redis_used_mb=None if after.redis_used is None else _mib(after.redis_used),
        fds=dict(after.fds),
        results=len(seconds),
        latency_ms=percentiles(seconds),
        processed=after.processed - before.processed,
        dropped=_change(before.dropped, after.dropped),
        failed=_change(before.failed, after.failed),
        injected=_change(before.injected, after.injected),
        errors=max(0, errors_so_far(after) - errors_so_far(before)),
        load_avg_1m=after.load_avg_1m,
    )


def _change(before: Reasons, after: Reasons) -> Reasons:
    changed = {reason: n - before.get(reason, 0) for reason, n in after.items()}
    return {reason: n for reason, n in changed.items() if n}


def _mib(value: int) -> float:
    return round(value / MIB, 2)
