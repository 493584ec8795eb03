"""One camera's tracks: each frame's faces matched to live tracks, misses coasted, ends.

A track is born tentative from an unmatched face and is confirmed (published) once it has
been seen in ``min_hits`` frames, which keeps one-frame false detections out. Through a
miss it coasts on a constant-velocity prediction of its box, for up to
``max_missed_seconds`` (time, not frames: a 5 fps and a 25 fps camera keep a face through
the same occlusion); then it ends. Track ids are random, short-lived and per camera: nothing links a
track to a person, to another camera or to a later track of the same face.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from common.hints import Hint, HintedBox
from tracking.association import as_boxes, assign, assign_near
from tracking.smoothing import EmotionSmoother, SmoothingConfig

TRACK_ID_BYTES = 4
VELOCITY_KEEP = 0.6  # the running velocity's weight against each new measurement
MAX_SIDES_PER_SECOND = 3.0  # a face crossing more than this many of its sides a second is noise
COAST_SECONDS = 0.4  # a coasting track's prediction slows down with this time constant
# A track that had lost its face takes a face whose centre is this many of its sides away
# at most from one of its predictions, and no more than this many times larger or smaller
# (the face kept moving while hidden; the prediction slowed down): half a side, so a false
# find beside the hidden face (an occluder's edge) does not take its track
REACQUIRE_SIDES = 0.5
REACQUIRE_SIZE_RATIO = 1.5


@dataclass(frozen=True)
class TrackerConfig:
    min_iou: float = 0.2
    min_hits: int = 2
    max_missed_seconds: float = 1.5
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)


@dataclass(frozen=True)
class Face:
    """One detected face of a frame: its box and emotion probabilities."""

    box: tuple[float, float, float, float]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class TrackState:
    """A confirmed track as of one frame."""

    track_id: str
    box: tuple[int, int, int, int]
    seen: bool  # detected in this frame; else the box is predicted
    raw: tuple[float, ...] | None  # this frame's probabilities, when seen
    smoothed: tuple[float, ...]
    label: int | None  # None: uncertain
    first_seen: float
    last_seen: float
    hits: int

    @property
    def age(self) -> float:
        return self.last_seen - self.first_seen


class Track:
    """One face over time: its last box, the motion of its centre, its smoothed emotion.

    Only the centre moves in a prediction. Haar's box sizes jump between the cascade's
    scales from frame to frame, so a size velocity would be noise; the size stays the
    last seen. The centre's velocity is a running mean of the measured ones, capped at
    ``MAX_SIDES_PER_SECOND`` box sides per second, and a coasting track slows down with
    time constant ``COAST_SECONDS``: however long it coasts, it moves at most
    velocity x ``COAST_SECONDS`` from where it was last seen.
    """

    def __init__(self, face: Face, at: float, config: TrackerConfig) -> None:
        self.track_id = secrets.token_hex(TRACK_ID_BYTES)
        self.box = np.asarray(face.box, dtype=np.float64)
        self.velocity = np.zeros(2, dtype=np.float64)  # of the centre, pixels per second
        self.smoother = EmotionSmoother(config.smoothing)
        self.smoother.update(np.asarray(face.probabilities), at)
        self.first_seen = self.last_seen = at
        self.hits, self.missed = 1, 0

    def predicted(self, at: float) -> npt.NDArray[np.float64]:
        dt = max(0.0, at - self.last_seen)
        travelled = self.velocity * COAST_SECONDS * (1.0 - math.exp(-dt / COAST_SECONDS))
        box = self.box.copy()
        box[:2] += travelled
        return box

    def predicted_straight(self, at: float, longest: float) -> npt.NDArray[np.float64]:
        """The box moved on at its last velocity for up to ``longest`` seconds: where a
        face that did not stop while it was hidden would be."""
        dt = min(max(0.0, at - self.last_seen), longest)
        box = self.box.copy()
        box[:2] += self.velocity * dt
        return box

    def observe(self, face: Face, at: float) -> None:
        box = np.asarray(face.box, dtype=np.float64)
        dt = at - self.last_seen
        if dt > 0:
            measured = (_centre(box) - _centre(self.box)) / dt
            keep = VELOCITY_KEEP if self.hits > 1 else 0.0  # the first estimate stands alone
            velocity = keep * self.velocity + (1.0 - keep) * measured
            cap = MAX_SIDES_PER_SECOND * float(max(box[2], box[3]))
            speed = float(np.hypot(*velocity))
            self.velocity = velocity * (cap / speed) if speed > cap else velocity
        self.box = box
        self.smoother.update(np.asarray(face.probabilities), at)
        self.last_seen = at
        self.hits += 1
        self.missed = 0

    def state(self, at: float, raw: Face | None) -> TrackState:
        assert self.smoother.average is not None
        x, y, w, h = (round(float(v)) for v in (self.box if raw else self.predicted(at)))
        return TrackState(
            track_id=self.track_id,
            box=(max(0, x), max(0, y), max(1, w), max(1, h)),
            seen=raw is not None,
            raw=raw.probabilities if raw else None,
            smoothed=tuple(float(p) for p in self.smoother.average),
            label=self.smoother.label,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            hits=self.hits,
        )


def _centre(box: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(box[:2] + box[2:] / 2.0)


class CameraTracker:
    """The live tracks of one camera, fed its frames in order."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.tracks: list[Track] = []
        self.ended = 0

    def update(self, faces: Sequence[Face], at: float) -> list[TrackState]:
        """Match this frame's faces and return every confirmed track's state as of it.

        Confirmed tracks are matched first, so a duplicate detection of a face (Haar finds
        some faces at two scales) cannot hand the face to a track born from it. Then the
        tentative tracks take what is left, then tracks that had lost their face take
        what is left near them; any face still unmatched starts a track.
        """
        confirmed = [i for i, t in enumerate(self.tracks) if t.hits >= self.config.min_hits]
        tentative = [i for i, t in enumerate(self.tracks) if t.hits < self.config.min_hits]
        free = list(range(len(faces)))
        seen: dict[int, Face] = {}
        for group, near in ((confirmed, False), (tentative, False), (confirmed, True)):
            waiting = [i for i in group if id(self.tracks[i]) not in seen]
            if near:
                waiting = [i for i in waiting if self.tracks[i].missed > 0]
            free = self._match(waiting, faces, free, at, seen, near)
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
        for face_index in free:
            born = Track(faces[face_index], at, self.config)
            self.tracks.append(born)
            seen[id(born)] = faces[face_index]
        states = [
            track.state(at, seen.get(id(track)))
            for track in self.tracks
            if track.hits >= self.config.min_hits and self._alive(track, at)
        ]
        self._end_lost(at)
        return states

    def _match(
        self,
        track_indices: list[int],
        faces: Sequence[Face],
        free: list[int],
        at: float,
        seen: dict[int, Face],
        near: bool,
    ) -> list[int]:
        """Match ``track_indices`` to the ``free`` faces; return the faces still free."""
        tracks = [self.tracks[i] for i in track_indices]
        predicted = as_boxes([list(track.predicted(at)) for track in tracks])
        detected = as_boxes([faces[j].box for j in free])
        if near:
            longest = self.config.max_missed_seconds
            straight = as_boxes([list(t.predicted_straight(at, longest)) for t in tracks])
            assignment = assign_near(
                [predicted, straight], detected, REACQUIRE_SIDES, REACQUIRE_SIZE_RATIO
            )
        else:
            assignment = assign(predicted, detected, self.config.min_iou)
        for track_index, free_index in assignment.matches:
            face = faces[free[free_index]]
            tracks[track_index].observe(face, at)
            seen[id(tracks[track_index])] = face
        return [free[j] for j in assignment.unmatched_detections]

    def hint_at(self, frame_number: int, at: float) -> Hint:
        """Every live track's box (predicted while missed; tentative ones too) and its
        velocity, as of ``at``: where workers should look next (``common.hints``)."""
        boxes = []
        for track in self.tracks:
            x, y, w, h = (round(float(v)) for v in track.predicted(at))
            box = (max(0, x), max(0, y), max(1, w), max(1, h))
            velocity = (float(track.velocity[0]), float(track.velocity[1]))
            missing = track.missed > 0
            boxes.append(HintedBox(box, (0.0, 0.0) if missing else velocity, missing))
        return Hint(frame_number, at, tuple(boxes))

    def _end_lost(self, at: float) -> None:
        alive = [t for t in self.tracks if self._alive(t, at)]
        self.ended += len(self.tracks) - len(alive)
        self.tracks = alive

    def _alive(self, track: Track, at: float) -> bool:
        if track.hits < self.config.min_hits:
            return track.missed == 0  # a tentative track that misses once was noise
        return at - track.last_seen <= self.config.max_missed_seconds
