"""A labelled moving camera: FER2013 faces that drift, get occluded and change expression.

A ``MotionSequence`` is a fixed scene (one background, 1-3 actors) described in time, not
frames, so a 5 fps and a 25 fps camera sample the same sequence. Each actor keeps to its
own horizontal lane and moves smoothly (a slow sinusoid in x and y, and a slow change of
size). Its expression changes at known times: each segment shows one FER2013 face of one
class, and the next segment another class. Now and then an occluder (a flat bar) covers
the face for a moment, so the detector misses it. ``frame_at(t)`` renders the scene and
its truth: per actor its id, box, label and whether it is visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from producer.scenes import (
    FaceFile,
    add_sensor_noise,
    context_pad,
    index_faces,
    paste_face,
    render_background,
)

UInt8Image = npt.NDArray[np.uint8]

SEGMENT_SECONDS = (3.0, 6.0)  # how long one expression lasts
HEAD_TILT_DEG = 4.0  # a head sways: the face turns this much either way, smoothly
FACE_LIGHT = 10.0  # and its light varies this many grey levels either way
OCCLUSION_SECONDS = (0.2, 0.5)
OCCLUSIONS_PER_MINUTE = 6
SIDE_RANGE = (110, 170)
SENSOR_NOISE_SIGMA = 2.5
LANE_GAP = 10
PICK_ATTEMPTS = 20


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    face: FaceFile

    @property
    def label(self) -> int:
        return self.face.label


@dataclass(frozen=True)
class Actor:
    """One face's path, expressions and occlusions over the whole sequence."""

    actor_id: int
    lane: tuple[int, int]  # top and bottom y of its lane
    side: int
    phase: float
    speed: float  # radians of its x sinusoid per second
    segments: tuple[Segment, ...]
    occlusions: tuple[tuple[float, float], ...]

    def segment_at(self, t: float) -> Segment:
        for segment in self.segments:
            if segment.start <= t < segment.end:
                return segment
        return self.segments[-1]

    def occluded(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.occlusions)

    def box_at(self, t: float, width: int) -> tuple[int, int, int, int]:
        side = round(self.side * (1.0 + 0.08 * math.sin(0.3 * t + self.phase)))
        pad = context_pad(side)
        span_x = width - side - 2 * pad
        x = pad + round(span_x * 0.5 * (1.0 + math.sin(self.speed * t + self.phase)))
        top, bottom = self.lane
        span_y = max(0, bottom - top - side - 2 * pad)
        y = (
            top
            + pad
            + round(span_y * 0.5 * (1.0 + math.sin(0.5 * self.speed * t + 2 * self.phase)))
        )
        return x, y, side, side


def turned(face: UInt8Image, angle: float) -> UInt8Image:
    """``face`` rotated by ``angle`` degrees about its centre, its edges replicated."""
    centre = (face.shape[1] / 2.0, face.shape[0] / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    rotated = cv2.warpAffine(face, matrix, face.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(rotated, dtype=np.uint8)


class MotionSequence:
    """``duration`` seconds of one moving scene, reproducible from ``seed``."""

    def __init__(
        self,
        data_dir: Path,
        duration: float,
        seed: int = 0,
        actors: int = 2,
        size: tuple[int, int] = (640, 480),
        split: str = "test",
        usable: Callable[[UInt8Image], bool] | None = None,
    ) -> None:
        """``usable``, if given, picks each segment's face among those it accepts (up to
        ``PICK_ATTEMPTS`` draws): a tracking benchmark passes "a face the detector finds",
        so that it measures the tracks rather than the detector's recall."""
        if duration <= 0:
            raise ValueError(f"expected a positive duration, got {duration}")
        self.size = size
        self.duration = duration
        rng = np.random.default_rng(seed)
        self._usable = usable
        self._images: dict[Path, UInt8Image] = {}
        faces = index_faces(data_dir, split)
        by_class = [[f for f in faces if f.label == label] for label in range(7)]
        self.background = render_background(rng, *size)
        lane_height = size[1] // max(1, actors)
        self.actors = tuple(
            self._actor(rng, by_class, index, (index * lane_height, (index + 1) * lane_height))
            for index in range(actors)
        )
        self._noise = np.random.default_rng(seed + 1)

    def _pick(self, rng: np.random.Generator, pool: list[FaceFile]) -> FaceFile:
        face = pool[int(rng.integers(len(pool)))]
        for _ in range(PICK_ATTEMPTS if self._usable else 0):
            if self._usable is not None and self._usable(self._load(face)):
                break
            face = pool[int(rng.integers(len(pool)))]
        return face

    def _actor(
        self,
        rng: np.random.Generator,
        by_class: list[list[FaceFile]],
        index: int,
        lane: tuple[int, int],
    ) -> Actor:
        largest = lane[1] - lane[0] - LANE_GAP
        side = min(int(rng.integers(*SIDE_RANGE)), int(largest / (1 + 2 * 0.3) / 1.08))
        segments, start, label = [], 0.0, int(rng.integers(7))
        while start < self.duration:
            end = min(self.duration, start + float(rng.uniform(*SEGMENT_SECONDS)))
            segments.append(Segment(start, end, self._pick(rng, by_class[label])))
            label = (label + int(rng.integers(1, 7))) % 7  # always another class
            start = end
        occlusions = []
        for _ in range(max(1, round(self.duration / 60.0 * OCCLUSIONS_PER_MINUTE))):
            begin = float(rng.uniform(1.0, max(1.5, self.duration - 1.0)))
            occlusions.append((begin, begin + float(rng.uniform(*OCCLUSION_SECONDS))))
        return Actor(
            actor_id=index,
            lane=lane,
            side=side,
            phase=float(rng.uniform(0, 2 * math.pi)),
            speed=float(rng.uniform(0.25, 0.6)),
            segments=tuple(segments),
            occlusions=tuple(sorted(occlusions)),
        )

    def label_changes(self) -> list[tuple[int, float, int]]:
        """(actor, time, new label) for every expression change after the start."""
        return [
            (actor.actor_id, segment.start, segment.label)
            for actor in self.actors
            for segment in actor.segments[1:]
        ]

    def frame_at(self, t: float) -> tuple[UInt8Image, list[dict[str, Any]]]:
        """The BGR frame at ``t`` seconds and, per actor, its truth."""
        frame = self.background.copy()
        truth: list[dict[str, Any]] = []
        for actor in self.actors:
            x, y, side, _ = actor.box_at(t, self.size[0])
            segment = actor.segment_at(t)
            paste_face(frame, self._sway(self._load(segment.face), actor, t), x, y, side)
            occluded = actor.occluded(t)
            if occluded:
                cv2.rectangle(
                    frame, (x - 10, y + side // 5), (x + side + 10, y + side), (60, 60, 60), -1
                )
            truth.append(
                {
                    "actor": actor.actor_id,
                    "box": [x, y, side, side],
                    "label": segment.label,
                    "visible": not occluded,
                }
            )
        return add_sensor_noise(self._noise, frame, SENSOR_NOISE_SIGMA), truth

    @staticmethod
    def _sway(face: UInt8Image, actor: Actor, t: float) -> UInt8Image:
        """The face as a live one varies: a slight, smooth tilt and change of light."""
        angle = HEAD_TILT_DEG * math.sin(1.3 * t + 3.0 * actor.phase)
        light = FACE_LIGHT * math.sin(0.9 * t + 5.0 * actor.phase)
        lit = turned(face, angle).astype(np.float32) + light
        return np.asarray(np.clip(lit, 0, 255), dtype=np.uint8)

    def _load(self, face: FaceFile) -> UInt8Image:
        if face.path not in self._images:
            image = cv2.imread(str(face.path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise ValueError(f"expected a readable face image at {face.path}")
            self._images[face.path] = np.asarray(image, dtype=np.uint8)
        return self._images[face.path]
