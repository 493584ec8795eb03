"""The producer loop: read a frame, submit it, wait for the next slot, repeat."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.errors import BrokerUnavailable
from producer.frames import CapturedFrame, FrameSource
from producer.submit import FrameSubmitter

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 5.0

# Called after each submitted frame with (frame_number, job_id, captured frame).
SubmitCallback = Callable[[int, str, CapturedFrame], None]


@dataclass
class ProducerStats:
    """What one run of the producer did."""

    frames_submitted: int = 0
    frames_failed: int = 0
    frames_dropped: int = 0  # by the overflow policy; included in frames_submitted
    elapsed_seconds: float = 0.0

    @property
    def fps(self) -> float:
        """Frames submitted per second of the run."""
        return self.frames_submitted / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass(frozen=True)
class _Limits:
    """When a run ends, besides the end of its source."""

    stop: threading.Event
    max_frames: int | None
    duration: float | None

    def reached(self, stats: ProducerStats, elapsed: float) -> bool:
        return (
            self.stop.is_set()
            or (self.max_frames is not None and stats.frames_submitted >= self.max_frames)
            or (self.duration is not None and elapsed >= self.duration)
        )

    def wait(self, seconds: float, elapsed: float) -> None:
        """Sleep ``seconds``, but wake at once on ``stop`` and never past ``duration``."""
        if self.duration is not None:
            seconds = min(seconds, self.duration - elapsed)
        if seconds > 0:
            self.stop.wait(seconds)


def _check_arguments(target_fps: float, max_frames: int | None, duration: float | None) -> None:
    if not target_fps > 0:
        raise ValueError(f"target_fps: expected > 0, got {target_fps!r}")
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames: expected >= 0 or None, got {max_frames!r}")
    if duration is not None and duration < 0:
        raise ValueError(f"duration: expected >= 0 or None, got {duration!r}")


def run_producer(
    source: FrameSource,
    submitter: FrameSubmitter,
    camera_id: str,
    *,
    target_fps: float,
    jpeg_quality: int,
    max_side: int,
    max_frames: int | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
    on_submit: SubmitCallback | None = None,
) -> ProducerStats:
    """Submit frames from ``source`` at ``target_fps`` until a limit, ``stop`` or its end.

    A frame Redis refuses is counted as failed and dropped; frame numbers count submitted
    frames only, from 0. A late frame moves the schedule on instead of bursting to catch
    up. The source is closed on return, Ctrl-C included.
    """
    _check_arguments(target_fps, max_frames, duration)
    limits = _Limits(stop or threading.Event(), max_frames, duration)
    period = 1.0 / target_fps
    stats = ProducerStats()
    started = time.monotonic()
    next_slot, next_log = started, started + PROGRESS_INTERVAL_SECONDS
    try:
        while not limits.reached(stats, time.monotonic() - started):
            captured = next(source, None)
            if captured is None or limits.reached(stats, time.monotonic() - started):
                break
            _submit_one(submitter, camera_id, captured, stats, jpeg_quality, max_side, on_submit)
            now = time.monotonic()
            if now >= next_log:
                _log_progress(camera_id, stats, now - started)
                next_log = now + PROGRESS_INTERVAL_SECONDS
            next_slot = max(next_slot + period, now)  # a late frame does not earn a burst
            limits.wait(next_slot - now, now - started)
    except KeyboardInterrupt:
        logger.info("camera %s: interrupted", camera_id)
    finally:
        source.close()
        stats.elapsed_seconds = time.monotonic() - started
    logger.info(
        "camera %s: done, %d frames submitted, %d failed in %.1fs",
        *(camera_id, stats.frames_submitted, stats.frames_failed, stats.elapsed_seconds),
    )
    return stats


def _log_progress(camera_id: str, stats: ProducerStats, elapsed: float) -> None:
    logger.info(
        "camera %s: %d frames submitted (%.1f fps), %d failed",
        *(camera_id, stats.frames_submitted, stats.frames_submitted / max(elapsed, 1e-9)),
        stats.frames_failed,
    )


def _submit_one(
    submitter: FrameSubmitter,
    camera_id: str,
    captured: CapturedFrame,
    stats: ProducerStats,
    jpeg_quality: int,
    max_side: int,
    on_submit: SubmitCallback | None,
) -> None:
    frame_number = stats.frames_submitted
    try:
        job_id = submitter.submit(
            camera_id, frame_number, captured, jpeg_quality=jpeg_quality, max_side=max_side
        )
    except BrokerUnavailable as exc:
        stats.frames_failed += 1
        if stats.frames_failed == 1 or stats.frames_failed % 50 == 0:
            logger.warning(
                "camera %s: frame dropped (%d so far): %s", camera_id, stats.frames_failed, exc
            )
        return
    stats.frames_submitted += 1
    if job_id is None:  # turned away by the camera's overflow policy (counted in Redis)
        stats.frames_dropped += 1
    elif on_submit is not None:
        on_submit(frame_number, job_id, captured)
