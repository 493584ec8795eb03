"""Boxes moved to where their face is in the frame they are drawn on.

The live view draws the newest tracked result on the camera's newest frame, which was
captured later: by the pipeline's latency and the track stage's, a tenth to a third of a
second. A moving face has moved on by then, and its box (and, with ``blur_faces``, its
blur) would trail it. ``TrackMotion`` learns each track's velocity from the camera's
``Tracks`` messages (the slope of its box over the last half second, which one frame's
detector jitter does not sway), and ``moved`` shifts a result's tracked boxes by velocity
x the frames' time apart, never more than ``MAX_LEAD_SECONDS`` ahead and never out of
the frame. A face not on a track,
or one whose track has no velocity yet (new, or back after hiding for over
``MAX_GAP_SECONDS``), keeps its box; one the detector missed on a frame or two moves on
at once when it is back.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from common.wire import Box, FaceResult, Result, TrackedFace, Tracks

MAX_LEAD_SECONDS = 0.5  # boxes go no further ahead than this (a face may turn)
MAX_GAP_SECONDS = 1.0  # a track unseen for longer starts its path afresh
WINDOW_SECONDS = 0.5  # a track's velocity: the slope of its box over this much past
MIN_SPAN_SECONDS = 0.1  # ... once its path spans this much (one frame's jitter is no speed)

Velocity = tuple[float, float]  # pixels per second, of the box's top-left corner
Point = tuple[float, int, int]  # when (producer clock), x, y


@dataclass
class TrackMotion:
    """Each seen track's velocity on one camera, as of its newest ``Tracks`` message: the
    least-squares slope of its box's corner over the last ``WINDOW_SECONDS``."""

    velocities: dict[str, Velocity] = field(default_factory=dict)
    _paths: dict[str, deque[Point]] = field(default_factory=dict)

    def observe(self, at: float, seen: Iterable[tuple[str, Box]]) -> None:
        """The boxes of the tracks seen on the frame captured at ``at`` (producer clock).
        Only they have a velocity; a track not among them keeps its path for
        ``MAX_GAP_SECONDS``, so a face the detector missed on a frame or two moves on
        its box again as soon as it is back."""
        paths: dict[str, deque[Point]] = {}
        for track_id, box in seen:
            path = self._paths.get(track_id) or deque()
            if path and not 0 < at - path[-1][0] <= MAX_GAP_SECONDS:
                path = deque()
            path.append((at, box.x, box.y))
            while at - path[0][0] > WINDOW_SECONDS:
                path.popleft()
            paths[track_id] = path
        self.velocities = {
            track_id: velocity
            for track_id, path in paths.items()
            if (velocity := _slope(path)) is not None
        }
        for track_id, path in self._paths.items():  # unseen now: kept while it may return
            if track_id not in paths and 0 < at - path[-1][0] <= MAX_GAP_SECONDS:
                paths[track_id] = path
        self._paths = paths

    @property
    def kept(self) -> frozenset[str]:
        """The tracks whose path is kept: seen within the last ``MAX_GAP_SECONDS``."""
        return frozenset(self._paths)

    def observe_tracks(self, tracks: Tracks) -> None:
        """``observe`` for a ``Tracks`` message."""
        self.observe(tracks.captured_at, ((t.track_id, t.box) for t in tracks.tracks if t.seen))

    def ahead(self, track_id: str, box: Box, seconds: float, width: int, height: int) -> Box:
        """``box`` moved ``seconds`` ahead along its track (at most ``MAX_LEAD_SECONDS``),
        kept inside a ``width`` x ``height`` frame."""
        velocity = self.velocities.get(track_id)
        if velocity is None or seconds <= 0:
            return box
        lead = min(seconds, MAX_LEAD_SECONDS)
        x = _within(box.x + velocity[0] * lead, width - box.w)
        y = _within(box.y + velocity[1] * lead, height - box.h)
        return Box(x, y, box.w, box.h)


def _slope(path: deque[Point]) -> Velocity | None:
    """The least-squares velocity of ``path``; None if it spans under MIN_SPAN_SECONDS."""
    if len(path) < 2 or path[-1][0] - path[0][0] < MIN_SPAN_SECONDS:
        return None
    mean_t = sum(p[0] for p in path) / len(path)
    spread = sum((p[0] - mean_t) ** 2 for p in path)
    mean_x = sum(p[1] for p in path) / len(path)
    mean_y = sum(p[2] for p in path) / len(path)
    vx = sum((p[0] - mean_t) * (p[1] - mean_x) for p in path) / spread
    vy = sum((p[0] - mean_t) * (p[2] - mean_y) for p in path) / spread
    return vx, vy


def moved(
    motion: TrackMotion,
    result: Result,
    tracks: Tracks,
    captured_at: float,
    size: tuple[int, int],
) -> tuple[Result, Tracks]:
    """``result`` and ``tracks`` (of the same frame) with every tracked face's box moved
    to where it is at ``captured_at``, in a frame of ``size`` (width, height)."""
    seconds = captured_at - tracks.captured_at
    if seconds <= 0 or not motion.velocities:
        return result, tracks
    width, height = size
    boxes = {
        track.box: motion.ahead(track.track_id, track.box, seconds, width, height)
        for track in tracks.tracks
        if track.seen
    }
    faces = tuple(_face_at(face, boxes) for face in result.faces)
    on_tracks = tuple(_track_at(track, boxes) for track in tracks.tracks)
    return (
        dataclasses.replace(result, faces=faces),
        dataclasses.replace(tracks, tracks=on_tracks),
    )


def _face_at(face: FaceResult, boxes: dict[Box, Box]) -> FaceResult:
    return dataclasses.replace(face, box=boxes.get(face.box, face.box))


def _track_at(track: TrackedFace, boxes: dict[Box, Box]) -> TrackedFace:
    if not track.seen:
        return track
    return dataclasses.replace(track, box=boxes.get(track.box, track.box))


def _within(value: float, highest: int) -> int:
    return max(0, min(round(value), max(0, highest)))
