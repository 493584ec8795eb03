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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import redis

from common.accounting import CameraCounts, read_counts
from common.keys import results_stream
from common.results import follow, read_history
from common.settings import Settings
from common.wire import Result
from ferstream.bench.results import (
    CameraAccount,
    LoadRun,
    Percentiles,
    PoolRun,
    SaturationRun,
    merge_reasons,
)
from ferstream.bench.scenes import LabelledFrame
from ferstream.bench.watch import Watcher
from ferstream.scoring import Scoreboard
from producer.submit import FrameSubmitter

STAGES = ("queue_wait", "decode", "detect", "classify", "total")
# saturation: producing and measuring alternate (see ``LoadDriver.saturation``)
IDLE_PHASE_SECONDS = 0.5
GUESS_FRAMES_PER_S_PER_WORKER = 60.0  # the first backlog; it grows to what the pool does
MAX_FRAMES_PER_S_PER_WORKER = 200.0  # bounds the backlog, and so the cameras it needs
BACKLOG_SLACK = 16  # pending frames beyond the waiting backlog: those the workers hold
DRAIN_GRACE_SECONDS = 60.0  # after max frame age: a backlog is worked off or dropped by then
READ_GRACE_SECONDS = 10.0
FOLLOW_BLOCK_MS = 200
POLL_SECONDS = 0.05


class Counting(Protocol):
    """Something that has read some results so far."""

    def count(self) -> int: ...


class ResultSource(Counting, Protocol):
    """Where a run's results come from: followed live, or read from the streams after."""

    def stop(self) -> list[Result]: ...


class FrameSink(Protocol):
    """Where a paced camera's frames go (``LoadDriver.produce``): submitted, and noted."""

    def submit(
        self, submitter: FrameSubmitter, camera: str, number: int, frame: LabelledFrame
    ) -> None: ...


class StreamReader:
    """The results of some cameras, read from their streams only when asked: nothing runs
    meanwhile. The streams keep up to ``results_stream_maxlen`` results per camera."""

    def __init__(self, connection: redis.Redis[bytes], prefix: str, cameras: list[str]) -> None:
        self.connection = connection
        self.prefix = prefix
        self.cameras = cameras

    def count(self) -> int:
        return sum(int(self.connection.xlen(results_stream(self.prefix, c))) for c in self.cameras)

    def stop(self) -> list[Result]:
        return [r for c in self.cameras for _, r in read_history(self.connection, self.prefix, c)]


class ResultCollector:
    """Follows the result streams of some cameras in a thread and keeps every result, or
    hands each one to ``keep`` instead (a long run need not hold them all)."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        prefix: str,
        cameras: list[str],
        keep: Callable[[Result], None] | None = None,
    ) -> None:
        self.results: list[Result] = []
        self.read = 0
        self._keep = keep or self.results.append
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
                    self._keep(item[1])
                    self.read += 1
                    self.arrived.notify_all()
            if self._stop.is_set():
                return

    def count(self) -> int:
        with self.arrived:
            return self.read

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
        self.queue_key = f"rq:queue:{settings.queue_name}"

    def _camera_ids(self, run: str, count: int | None = None) -> list[str]:
        return [f"{run}-c{i}" for i in range(self.cameras if count is None else count)]

    def saturation(
        self, workers: int, warmup: float, window: float, run: str | None = None
    ) -> SaturationRun:
        """Pool capacity: how fast the workers and Redis alone work off a backlog.

        The references read their frames from memory, while the benchmark's producers
        share the pool's cores; so producing and measuring alternate. A short top-up
        enqueues frames (the producers' own path) until ``IDLE_PHASE_SECONDS`` and a
        half of work waits in the queue; then nothing but the workers and Redis runs
        for ``IDLE_PHASE_SECONDS``. Frames/s = results published inside the idle phases
        after ``warmup`` / their total length, ``window``. A phase at whose end no
        frame was waiting (the workers may have idled) is left out, and the next
        backlog is twice as large. No frame waits long enough to go stale, and the
        backlog is spread over enough cameras for their pending bounds to hold it.
        Results are read from the streams afterwards: no reader runs meanwhile.
        """
        run = run or f"sat{workers}w"  # camera ids of the run's own: counters start at 0
        most = math.ceil(MAX_FRAMES_PER_S_PER_WORKER * workers * IDLE_PHASE_SECONDS * 1.5)
        # enough cameras for their pending bounds to hold the backlog, and for their result
        # streams (capped at ``results_stream_maxlen``) to hold every result of a long run
        frames_at_most = MAX_FRAMES_PER_S_PER_WORKER * workers * (warmup + window) * 1.5
        cameras = self._camera_ids(
            run,
            max(
                math.ceil((most + BACKLOG_SLACK) / self.settings.max_pending_per_camera),
                math.ceil(frames_at_most / (self.settings.results_stream_maxlen / 2)),
            ),
        )
        sent = Submissions()
        frames = itertools.cycle(self.frames)
        backlog = min(most, math.ceil(GUESS_FRAMES_PER_S_PER_WORKER * workers * 0.75))
        phases: list[tuple[float, float]] = []
        measured, dry = 0.0, 0
        started = time.time()
        self.watcher.begin()
        while measured < window:
            for _ in range(backlog - int(self.connection.llen(self.queue_key))):
                number = sent.count
                sent.submit(self.submitter, cameras[number % len(cameras)], number, next(frames))
            waiting, begin = int(self.connection.llen(self.queue_key)), time.time()
            time.sleep(IDLE_PHASE_SECONDS)
            end, left = time.time(), int(self.connection.llen(self.queue_key))
            if left == 0:
                dry += 1
                backlog = min(most, backlog * 2)
                continue
            if begin >= started + warmup:
                phases.append((begin, end))
                measured += end - begin
            needed = (waiting - left) / (end - begin) * IDLE_PHASE_SECONDS * 1.5
            backlog = min(most, max(backlog, math.ceil(needed)))
        reader = StreamReader(self.connection, self.settings.key_prefix, cameras)
        summary, results = self._finish(run, cameras, reader, sent, started, time.time() - started)
        done = [r for r in results if any(begin <= r.published_at <= end for begin, end in phases)]
        return SaturationRun(
            **summary.common(),
            workers=workers,
            backlog=backlog,
            idle_phases=len(phases),
            dry_phases=dry,
            window_s=round(measured, 2),
            frames_per_s=round(len(done) / measured, 2),
            faces_per_s=round(sum(len(r.faces) for r in done) / measured, 2),
        )

    def offered(self, run: str, frames_per_s: float, duration: float) -> LoadRun:
        """``frames_per_s`` in all, split evenly over the cameras, for ``duration`` seconds."""
        return self.mixed(run, [frames_per_s / self.cameras] * self.cameras, duration)

    def mixed(self, run: str, rates: list[float], duration: float) -> LoadRun:
        """One camera per entry of ``rates`` (frames/s each), for ``duration`` seconds."""
        cameras = self._camera_ids(run, len(rates))
        collector = ResultCollector(self.connection, self.settings.key_prefix, cameras)
        sent = Submissions()
        start = time.time()
        self.watcher.begin()
        for thread in self.produce(cameras, rates, duration, sent, threading.Event()):
            thread.join()
        summary, results = self._finish(run, cameras, collector, sent, start, duration)
        in_window = [r for r in results if start <= r.published_at <= start + duration]
        accounts = {
            camera: replace(
                summary.cameras[camera],
                offered_fps=round(rate, 2),
                latency_ms=percentiles([r.latency for r in results if r.camera_id == camera]),
            )
            for camera, rate in zip(cameras, rates, strict=True)
        }
        return LoadRun(
            **(summary.common() | {"cameras": accounts}),
            offered_fps=round(sum(rates), 2),
            submitted_fps=round(summary.submitted / duration, 2),
            processed_fps=round(len(in_window) / duration, 2),
            faces_per_s=round(sum(len(r.faces) for r in in_window) / duration, 2),
            duration_s=duration,
        )

    def produce(
        self,
        cameras: list[str],
        rates: list[float],
        duration: float,
        sink: FrameSink,
        stop: threading.Event,
    ) -> list[threading.Thread]:
        """One paced producer thread per camera (``rates`` frames/s each), started: each
        sends its frames to ``sink`` for ``duration`` seconds, or until ``stop`` is set."""
        threads = [
            threading.Thread(
                target=self._produce,
                args=(camera, index, rate, duration, sink, stop),
                name=f"bench-{camera}",
                daemon=True,
            )
            for index, (camera, rate) in enumerate(zip(cameras, rates, strict=True))
        ]
        for thread in threads:
            thread.start()
        return threads

    def _produce(
        self,
        camera: str,
        offset: int,
        fps: float,
        duration: float,
        sent: FrameSink,
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

    def _finish(
        self,
        run: str,
        cameras: list[str],
        collector: ResultSource,
        sent: Submissions,
        start: float,
        duration: float,
    ) -> tuple[PoolRun, list[Result]]:
        """Drain, stop watching, read every result and counter, check the accounting: the
        run's summary, and the results it read."""
        drained = self.drain(cameras)
        self.await_results(collector, cameras)
        watched = self.watcher.end(start, duration)
        results = collector.stop()
        counts = {c: read_counts(self.connection, self.settings.key_prefix, c) for c in cameras}
        queued = int(self.connection.llen(self.queue_key))
        board = Scoreboard()
        for (camera, number), faces in sent.truth.items():
            board.record_truth(camera, number, faces)
        for result in results:
            board.add(result)
        read = Counter(r.camera_id for r in results)
        cams = {c: camera_account(counts[c], read[c], queued) for c in cameras}
        settled = sum(c.settled for c in counts.values())
        scores = board.summary()
        summary = PoolRun(
            cpu_ms_per_frame={
                name: None if spent is None else round(1000.0 * spent / max(1, settled), 2)
                for name, spent in watched.cpu_seconds.items()
            },
            run=run,
            drained=drained,
            submitted=sum(c.submitted for c in counts.values()),
            processed=sum(c.processed for c in counts.values()),
            dropped=merge_reasons(c.dropped for c in counts.values()),
            failed=merge_reasons(c.failed for c in counts.values()),
            results_read=len(results),
            latency_ms=percentiles(board.latencies),
            stage_ms={s: percentiles(board.stages.get(s, [])) for s in STAGES},
            overhead_ms=percentiles(_overheads(results)),
            face_recall=scores["face_recall"],
            label_accuracy=scores["label_accuracy"],
            cameras=cams,
            identity_holds=all(c.identity_holds for c in cams.values()),
            watched=watched,
        )
        return summary, results

    def drain(self, cameras: list[str]) -> bool:
        """Wait until every submitted frame of ``cameras`` is settled; False on timeout."""
        deadline = time.monotonic() + self.settings.max_frame_age + DRAIN_GRACE_SECONDS
        while time.monotonic() < deadline:
            counts = [read_counts(self.connection, self.settings.key_prefix, c) for c in cameras]
            if all(c.settled >= c.submitted for c in counts):
                return True
            time.sleep(POLL_SECONDS * 4)
        return False

    def await_results(self, collector: Counting, cameras: list[str]) -> None:
        """Wait (a little) until ``collector`` has read every result ``cameras`` published."""
        processed = sum(
            read_counts(self.connection, self.settings.key_prefix, c).processed for c in cameras
        )
        deadline = time.monotonic() + READ_GRACE_SECONDS
        while collector.count() < processed and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)


def camera_account(counts: CameraCounts, read: int, queued: int) -> CameraAccount:
    """One camera's counts (``read``: its results read, ``queued``: jobs left in the queue)
    and whether submitted = processed + dropped + failed + pending."""
    pending = counts.submitted - counts.settled
    return CameraAccount(
        submitted=counts.submitted,
        processed=counts.processed,
        dropped=dict(counts.dropped),
        failed=dict(counts.failed),
        pending=pending,
        results_read=read,
        # after a drain nothing may be pending, and every processed frame was published and read
        identity_holds=pending == 0 and queued == 0 and read == counts.processed,
    )


def _overheads(results: list[Result]) -> list[float]:
    """Seconds of each result spent outside the measured stages: enqueue, RQ, publish."""
    return [max(0.0, r.latency - r.timings.queue_wait - r.timings.total) for r in results]


def percentiles(seconds: list[float]) -> Percentiles:
    """p50/p95/p99/max of ``seconds``, in milliseconds."""
    if not seconds:
        return Percentiles()
    values = np.asarray(seconds) * 1000.0
    return Percentiles(
        p50=round(float(np.percentile(values, 50)), 1),
        p95=round(float(np.percentile(values, 95)), 1),
        p99=round(float(np.percentile(values, 99)), 1),
        max=round(float(values.max()), 1),
    )
