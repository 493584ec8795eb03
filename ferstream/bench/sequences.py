"""Frames of a moving sequence or a video through the worker's pipeline, in order, in
process: with whole-frame detection, or guided by the tracks as a worker is.

Guided runs take their hints from the tracker as it stood ``HINT_LAG_SECONDS`` earlier
(at least one frame), as a worker's would: the track service is behind the frames in
flight.
Every frame is timed in CPU seconds of this process (decode, detect and classify; the
bench caps OpenCV and LiteRT at one thread, as a one-core worker), so the frames per
second per core of the two ways compare directly, and other work on the machine does not
skew them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.hints import Hint
from common.wire import Frame, Result
from producer.encoding import encode_jpeg, fit_within
from producer.motion import MotionSequence
from tracking.service import to_faces
from tracking.tracker import CameraTracker, TrackerConfig, TrackState
from worker.pipeline import FramePipeline

# The track service is this far behind the frame a worker detects (the result's way back
# and the frames in flight); at least one frame.
HINT_LAG_SECONDS = 0.08
JPEG_QUALITY = 80
START = 1_800_000_000.0  # captured_at of frame 0 (any fixed time)


@dataclass(frozen=True)
class SequenceFrame:
    """A frame to run: its time in the sequence, the encoded image, and its truth."""

    at: float
    jpeg: bytes
    width: int
    height: int
    truth: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Tracked:
    """One frame after the pipeline and the tracker."""

    at: float
    result: Result
    tracks: tuple[TrackState, ...]
    truth: tuple[dict[str, Any], ...]
    seconds: float  # CPU seconds the pipeline took for this frame


def motion_frames(sequence: MotionSequence, fps: float) -> Iterator[SequenceFrame]:
    for index in range(int(sequence.duration * fps)):
        at = index / fps
        image, truth = sequence.frame_at(at)
        height, width = image.shape[:2]
        yield SequenceFrame(at, encode_jpeg(image, JPEG_QUALITY), width, height, tuple(truth))


def video_frames(path: Path, fps: float, max_side: int = 640) -> Iterator[SequenceFrame]:
    """The video's frames, as a producer sends them (shrunk to ``max_side``), on its time."""
    capture = cv2.VideoCapture(str(path))
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            image, _ = fit_within(np.ascontiguousarray(image), max_side)
            height, width = image.shape[:2]
            yield SequenceFrame(index / fps, encode_jpeg(image, JPEG_QUALITY), width, height)
            index += 1
    finally:
        capture.release()


def run_sequence(
    frames: Iterator[SequenceFrame],
    pipeline: FramePipeline,
    tracker_config: TrackerConfig,
    camera_id: str = "sequence",
    fps: float = 25.0,
) -> list[Tracked]:
    """Every frame through ``pipeline`` (guided if its ``guidance`` is set) and a tracker."""
    tracker = CameraTracker(tracker_config)
    hint_lag = max(1, math.ceil(HINT_LAG_SECONDS * fps))
    hints: list[Hint] = []
    out: list[Tracked] = []
    for number, item in enumerate(frames):
        frame = Frame(camera_id, number, START + item.at, item.jpeg, item.width, item.height)
        hint = hints[-hint_lag] if len(hints) >= hint_lag else None
        started = time.process_time()
        (result,) = pipeline.process_many([frame], [0.0], {camera_id: hint} if hint else {})
        seconds = time.process_time() - started
        if not isinstance(result, Result):
            raise result
        states = tracker.update(to_faces(result), START + item.at)
        hints.append(tracker.hint_at(number, START + item.at))
        out.append(Tracked(item.at, result, tuple(states), item.truth, seconds))
    return out
