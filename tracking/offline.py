"""Tracks of a whole recorded video at once: its results in frame order, on video time.

``ferstream analyze`` has every result of a file before it writes its outputs, so it
needs no reordering window or lease: one tracker runs over the frames in order. Time is
the video's (frame number / fps), not the wall clock at which frames were read.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.wire import Result
from tracking.service import to_faces
from tracking.tracker import CameraTracker, TrackerConfig, TrackState


def track_video(
    results: Mapping[int, Result], fps: float, config: TrackerConfig
) -> dict[int, list[TrackState]]:
    """Each frame number's confirmed tracks; frames without a result count as no faces."""
    if fps <= 0:
        raise ValueError(f"expected a positive frame rate, got {fps}")
    tracker = CameraTracker(config)
    last = max(results, default=-1)
    tracks: dict[int, list[TrackState]] = {}
    for number in range(last + 1):
        result = results.get(number)
        faces = to_faces(result) if result is not None else []
        tracks[number] = tracker.update(faces, number / fps)
    return tracks
