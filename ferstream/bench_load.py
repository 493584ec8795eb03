"""Driving a running worker pool for the benchmark: saturation, offered load, drain, accounting.

Frames are the benchmark's pre-encoded scenes, stamped with a fresh capture time and
frame number and enqueued through ``FrameSubmitter.enqueue`` (the producers' own path,
which counts them as submitted). Every result is read from the cameras' result streams;
every count from the cameras' counters. Each run uses camera ids of its own, so its
counters start at zero.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis

from common.accounting import CameraCounts, read_counts
from common.results import follow
from common.settings import Settings
from common.wire import Result
from ferstream.bench_scenes import LabelledFrame
from ferstream.bench_watch import Watcher
from ferstream.scoring import Scoreboard
from producer.submit import FrameSubmitter

STAGES = ("queue_wait", "decode", "detect", "classify", "total")
LOST_POLL_SECONDS = 0.25  # the backlog's own cost on the cores stays small
DRAIN_GRACE_SECONDS = 60.0  # after max frame age: a backlog is worked off or dropped by then
READ_GRACE_SECONDS = 10.0
FOLLOW_BLOCK_MS = 200
POLL_SECONDS = 0.05


class ResultCollector:
    """Follows the result streams of some cameras in a thread and keeps every result."""

    def __init__(self, connection: redis.Redis[bytes], prefix: str, cameras: list[str]) -> None:
        self.results: list[Result] = []
        self.arrived = threading.Condition()
        self._stop = threading.Event()
        start = dict.fromkeys(cameras, b"0-0")  # fresh cameras: their streams start empty
        self._items = follow(connection, prefix, cameras, start, block_ms=FOLLOW_BLOCK_MS)
        self._thread = threading.Thread(target=self._run, name="bench-results", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for item in self._items:
            if item is not None:
                with self.arrived:
                    self.results.append(item[1])
                    self.arrived.notify_all()
            if self._stop.is_set():
                return

    def count(self) -> int:
        with self.arrived:
            return len(self.results)

    def stop(self) -> list[Result]:
        self._stop.set()
        self._thread.join(timeout=FOLLOW_BLOCK_MS / 1000.0 + 5.0)
        with self.arrived:
            return list(self.results)


@dataclass
class Submissions:
    """Frames one run submitted, with their truth, for scoring once the run has drained."""

    truth: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(
        self, submitter: FrameSubmitter, camera: str, number: int, frame: LabelledFrame
    ) -> None:
        submitter.enqueue(frame.to_frame(camera, number, time.time()))
        with self.lock:
            self.truth[(camera, number)] = [dict(face) for face in frame.truth]

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.truth)


class LoadDriver:
    """Runs saturation and offered-load runs against the pool serving ``settings``' queue."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        settings: Settings,
        frames: list[LabelledFrame],
        watcher: Watcher,
        cameras: int = 2,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.frames = frames
        self.watcher = watcher
        self.cameras = cameras
        self.submitter = FrameSubmitter(connection, settings)

    def _camera_ids(self, run: str, count: int | None = None) -> list[str]:
        return [f"{run}-c{i}" for i in range(self.cameras if count is None else count)]

    def saturation(
        self, workers: int, warmup: float, window: float, run: str | None = None
    ) -> dict[str, Any]:
        """Pool capacity: the drain rate of a backlog kept topped up at one batch and two
        frames per worker (at least 4), in flight or waiting.

        The backlog never runs dry, so workers never wait, and no frame waits long
        enough to go stale. It is spread over enough cameras (at least ``cameras``) for
        their pending bounds to hold it all, so the overflow policy drops nothing.
        Frames/s = results published inside ``window`` / ``window``.
        """
        run = run or f"sat{workers}w"  # camera ids of the run's own: counters start at 0
        target = max(4, (self.settings.batch_max_frames + 2) * workers)
        per_camera = self.settings.max_pending_per_camera
        cameras = self._camera_ids(run, max(self.cameras, math.ceil(target / per_camera)))
        collector = ResultCollector(self.connection, self.settings.key_prefix, cameras)
        sent = Submissions()
        frames = itertools.cycle(enumerate(self.frames))
        began = time.time()
        start, end = began + warmup, began + warmup + window
        self.watcher.begin()
        numbers = itertools.count()
        lost, looked = 0, 0.0
        while time.time() < end:
            if sent.count and time.monotonic() - looked >= LOST_POLL_SECONDS:
                # frames dropped or failed never publish: read the counters now and then
                lost, looked = self._settled_without_result(cameras), time.monotonic()
            for _ in range(target - (sent.count - collector.count() - lost)):
                number = next(numbers)
                sent.submit(self.submitter, cameras[number % len(cameras)], number, next(frames)[1])
            with collector.arrived:
                collector.arrived.wait(timeout=POLL_SECONDS)
        summary = self._finish(run, cameras, collector, sent, start, window)
        in_window = [r for r in summary.pop("_results") if start <= r.published_at <= end]
        summary.update(
            workers=workers,
            backlog=target,
            window_s=window,
            frames_per_s=round(len(in_window) / window, 2),
            faces_per_s=round(sum(len(r.faces) for r in in_window) / window, 2),
        )
        return summary

    def offered(self, run: str, frames_per_s: float, duration: float) -> dict[str, Any]:
        """``frames_per_s`` in all, split evenly over the cameras, for ``duration`` seconds."""
        return self.mixed(run, [frames_per_s / self.cameras] * self.cameras, duration)

    def mixed(self, run: str, rates: list[float], duration: float) -> dict[str, Any]:
        """One camera per entry of ``rates`` (frames/s each), for ``duration`` seconds."""
        cameras = self._camera_ids(run, len(rates))
        collector = ResultCollector(self.connection, self.settings.key_prefix, cameras)
        sent = Submissions()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=self._produce,
                args=(camera, index, rate, duration, sent, stop),
                name=f"bench-{camera}",
                daemon=True,
            )
            for index, (camera, rate) in enumerate(zip(cameras, rates, strict=True))
        ]
        start = time.time()
        self.watcher.begin()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        summary = self._finish(run, cameras, collector, sent, start, duration)
        results = summary.pop("_results")
        in_window = [r for r in results if start <= r.published_at <= start + duration]
        for camera, rate in zip(cameras, rates, strict=True):
            summary["cameras"][camera].update(
                offered_fps=round(rate, 2),
                latency_ms=_percentiles([r.latency for r in results if r.camera_id == camera]),
            )
        summary.update(
            offered_fps=round(sum(rates), 2),
            submitted_fps=round(summary["submitted"] / duration, 2),
            processed_fps=round(len(in_window) / duration, 2),
            faces_per_s=round(sum(len(r.faces) for r in in_window) / duration, 2),
            duration_s=duration,
        )
        return summary

    def _produce(
        self,
        camera: str,
        offset: int,
        fps: float,
        duration: float,
        sent: Submissions,
        stop: threading.Event,
    ) -> None:
        """Paced like ``producer.runner``: a late frame moves the schedule, it earns no burst."""
        period = 1.0 / fps
        # cameras' frames interleave evenly: phase-aligned cameras would make frames arrive
        # in bunches and queue behind each other even at low load
        stop.wait(period * offset / self.cameras)
        started = time.monotonic()
        next_slot = started
        for number in itertools.count():
            now = time.monotonic()
            if now - started >= duration or stop.is_set():
                return
            frame = self.frames[(offset + number * self.cameras) % len(self.frames)]
            sent.submit(self.submitter, camera, number, frame)
            next_slot = max(next_slot + period, time.monotonic())
            stop.wait(max(0.0, min(next_slot, started + duration) - time.monotonic()))

    def _settled_without_result(self, cameras: list[str]) -> int:
        counts = [read_counts(self.connection, self.settings.key_prefix, c) for c in cameras]
        return sum(c.settled - c.processed for c in counts)

    def _finish(
        self,
        run: str,
        cameras: list[str],
        collector: ResultCollector,
        sent: Submissions,
        start: float,
        duration: float,
    ) -> dict[str, Any]:
        """Drain, stop watching, read every result and counter, check the accounting."""
        drained = self._drain(cameras)
        self._await_results(collector, cameras)
        watched = self.watcher.end(start, duration)
        results = collector.stop()
        counts = {c: read_counts(self.connection, self.settings.key_prefix, c) for c in cameras}
        queued = int(self.connection.llen(f"rq:queue:{self.settings.queue_name}"))
        board = Scoreboard()
        for (camera, number), faces in sent.truth.items():
            board.record_truth(camera, number, faces)
        for result in results:
            board.add(result)
        cams = {c: _camera_summary(counts[c], results, queued) for c in cameras}
        settled = sum(c.settled for c in counts.values())
        return {
            "cpu_ms_per_frame": {
                name: None if spent is None else round(1000.0 * spent / max(1, settled), 2)
                for name, spent in watched["cpu_seconds"].items()
            },
            "run": run,
            "drained": drained,
            "submitted": sum(c.submitted for c in counts.values()),
            "processed": sum(c.processed for c in counts.values()),
            "dropped": _merge(c.dropped for c in counts.values()),
            "failed": _merge(c.failed for c in counts.values()),
            "results_read": len(results),
            "latency_ms": _percentiles(board.latencies),
            "stage_ms": {s: _percentiles(board.stages.get(s, [])) for s in STAGES},
            "overhead_ms": _percentiles(_overheads(results)),
            "face_recall": board.summary()["face_recall"],
            "label_accuracy": board.summary()["label_accuracy"],
            "cameras": cams,
            "identity_holds": all(c["identity_holds"] for c in cams.values()),
            **watched,
            "_results": results,
        }

    def _drain(self, cameras: list[str]) -> bool:
        """Wait until every submitted frame of ``cameras`` is settled; False on timeout."""
        deadline = time.monotonic() + self.settings.max_frame_age + DRAIN_GRACE_SECONDS
        while time.monotonic() < deadline:
            counts = [read_counts(self.connection, self.settings.key_prefix, c) for c in cameras]
            if all(c.settled >= c.submitted for c in counts):
                return True
            time.sleep(POLL_SECONDS * 4)
        return False

    def _await_results(self, collector: ResultCollector, cameras: list[str]) -> None:
        processed = sum(
            read_counts(self.connection, self.settings.key_prefix, c).processed for c in cameras
        )
        deadline = time.monotonic() + READ_GRACE_SECONDS
        while collector.count() < processed and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)


def _camera_summary(counts: CameraCounts, results: list[Result], queued: int) -> dict[str, Any]:
    """One camera's counts and whether submitted = processed + dropped + failed + pending."""
    read = sum(1 for r in results if r.camera_id == counts.camera_id)
    pending = counts.submitted - counts.settled
    return {
        "submitted": counts.submitted,
        "processed": counts.processed,
        "dropped": dict(counts.dropped),
        "failed": dict(counts.failed),
        "pending": pending,
        "results_read": read,
        # after a drain nothing may be pending, and every processed frame was published and read
        "identity_holds": pending == 0 and queued == 0 and read == counts.processed,
    }


def _merge(parts: Any) -> dict[str, int]:
    merged: dict[str, int] = {}
    for part in parts:
        for reason, amount in part.items():
            merged[reason] = merged.get(reason, 0) + amount
    return merged


def _overheads(results: list[Result]) -> list[float]:
    """Seconds of each result spent outside the measured stages: enqueue, RQ, publish."""
    return [max(0.0, r.latency - r.timings.queue_wait - r.timings.total) for r in results]


def _percentiles(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    values = np.asarray(seconds) * 1000.0
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
        "p99": round(float(np.percentile(values, 99)), 1),
        "max": round(float(values.max()), 1),
    }
