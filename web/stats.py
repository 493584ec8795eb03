"""Each camera's live figures, kept as results arrive (by the renderer, once for every
viewer): frames/s, latency p50/p95, faces in the newest frame, a throughput sparkline.

In results mode aggregate no result arrives: frames/s is then the rise of the camera's
processed counter (read every sweep), and faces are those of its newest window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from common.accounting import CameraCounts
from common.wire import Result

WINDOW_SECONDS = 10.0  # frames/s and latency are over this much of the newest results
SPARK_SECONDS = 60  # the sparkline: results per second, this many seconds back


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank ``share`` percentile of ``values`` (None if empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class CameraStats:
    """One camera's recent results, reduced to what a tile shows."""

    camera_id: str
    recent: deque[tuple[float, float]] = field(default_factory=deque)  # (published, latency)
    per_second: dict[int, int] = field(default_factory=dict)  # unix second -> results
    faces: int = 0
    frame_number: int | None = None
    last_published: float | None = None
    counts: CameraCounts | None = None
    processed: deque[tuple[float, int]] = field(default_factory=deque)  # (read at, count)
    window_faces: int | None = None  # of the newest window (results mode aggregate)

    def add(self, result: Result) -> None:
        self.recent.append((result.published_at, result.latency))
        second = int(result.published_at)
        self.per_second[second] = self.per_second.get(second, 0) + 1
        if self.last_published is None or result.published_at >= self.last_published:
            self.faces = len(result.faces)
            self.frame_number = result.frame_number
            self.last_published = result.published_at
        self._forget(result.published_at)

    def count(self, counts: CameraCounts, now: float) -> None:
        """The camera's counters, as read at ``now``."""
        self.counts = counts
        self.processed.append((now, counts.processed))
        self._forget(now)

    def _forget(self, now: float) -> None:
        while self.recent and self.recent[0][0] < now - WINDOW_SECONDS:
            self.recent.popleft()
        while len(self.processed) > 2 and self.processed[0][0] < now - WINDOW_SECONDS:
            self.processed.popleft()
        oldest = int(now) - SPARK_SECONDS
        for second in [s for s in self.per_second if s <= oldest]:
            del self.per_second[second]

    def summary(self, now: float) -> dict[str, Any]:
        """What the grid's tile shows, JSON-able."""
        self._forget(now)
        latencies = [latency * 1000.0 for _, latency in self.recent]
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        counts = self.counts
        fps = len(self.recent) / WINDOW_SECONDS
        if not self.recent and len(self.processed) >= 2:  # no results: the counter's rise
            (first_at, first), (last_at, last) = self.processed[0], self.processed[-1]
            rise = max(0, last - first)  # a Redis that lost its counters starts again at 0
            fps = rise / (last_at - first_at) if last_at > first_at else 0.0
        return {
            "camera_id": self.camera_id,
            "fps": round(fps, 2),
            "latency_ms": {
                "p50": None if p50 is None else round(p50, 1),
                "p95": None if p95 is None else round(p95, 1),
            },
            "faces": self.faces if self.window_faces is None else self.window_faces,
            "frame_number": self.frame_number,
            "age_s": None if self.last_published is None else round(now - self.last_published, 2),
            "submitted": counts.submitted if counts else 0,
            "processed": counts.processed if counts else 0,
            "dropped": sum(counts.dropped.values()) if counts else 0,
            "failed": sum(counts.failed.values()) if counts else 0,
            "sparkline": [
                self.per_second.get(second, 0)
                for second in range(int(now) - SPARK_SECONDS + 1, int(now) + 1)
            ],
        }
