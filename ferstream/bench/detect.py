"""Haar face recall against milliseconds, over a grid of settings, and the settings to pick
(``ferstream bench-detect``; its report: ``ferstream.bench.detect_report``).

Every setting runs through ``worker.detector.HaarFaceDetector`` (the worker's own code)
on the same labelled 640x480 scenes, decoded from JPEG as a worker decodes them, with
OpenCV on one thread. Scenes are the outer loop and settings the inner one, so when
other programs share the machine every setting sees the same slowdowns and the ranking
stays fair even where the absolute milliseconds do not.

The source notebook's detection (the default cascade, scale 1.1, 4 neighbours, no minimum
size, full frame) runs on the same scenes as the reference: the recommended setting is
the fastest that finds at least as many faces with no more false ones.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from common.settings import Settings
from ferstream.bench.scenes import LabelledFrame, matched_faces
from worker.detector import HaarFaceDetector

HAAR_WINDOW = 24  # pixels: the frontal-face cascade's own window, its smallest detection
DEFAULT_BUDGET_MS = 10.0
RECALL_TOLERANCE = 0.01  # recall differences this small are a face or two on ~300 faces


@dataclass(frozen=True)
class DetectConfig:
    cascade: str
    scale_factor: float
    min_neighbors: int
    min_face_size: int
    downscale: float

    @property
    def smallest_face(self) -> int:
        """The smallest face (full-frame pixels) this setting can find: its real minimum size."""
        min_side = max(8, round(self.min_face_size * self.downscale))
        return round(max(HAAR_WINDOW, min_side) / self.downscale)

    @property
    def cascade_name(self) -> str:
        """``alt2`` for ``haarcascade_frontalface_alt2.xml``: short enough for a table."""
        return Path(self.cascade).stem.removeprefix("haarcascade_frontalface_")

    def detector(self) -> HaarFaceDetector:
        return HaarFaceDetector(
            self.cascade,
            self.scale_factor,
            self.min_neighbors,
            self.min_face_size,
            self.downscale,
        )


# the source notebook's detectMultiScale(gray, 1.1, 4) on the full frame, no minimum size
NOTEBOOK_DETECTION = DetectConfig("haarcascade_frontalface_default.xml", 1.1, 4, 0, 1.0)


@dataclass(frozen=True)
class DetectGrid:
    cascades: tuple[str, ...] = (
        "haarcascade_frontalface_default.xml",
        "haarcascade_frontalface_alt2.xml",
    )
    scale_factors: tuple[float, ...] = (1.1, 1.2, 1.3)
    min_neighbors: tuple[int, ...] = (1, 2, 3, 5)
    min_face_sizes: tuple[int, ...] = (60,)
    downscales: tuple[float, ...] = (1.0, 0.5, 0.35)

    def configs(self) -> list[DetectConfig]:
        """Every combination, and the notebook's setting if the grid lacks it."""
        grid = [
            DetectConfig(*values)
            for values in itertools.product(
                self.cascades,
                self.scale_factors,
                self.min_neighbors,
                self.min_face_sizes,
                self.downscales,
            )
        ]
        return grid if NOTEBOOK_DETECTION in grid else [*grid, NOTEBOOK_DETECTION]


@dataclass
class DetectScore:
    """What one setting did on every scene."""

    config: DetectConfig
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    true_faces: int = 0
    found: int = 0
    matched: int = 0

    @property
    def frames(self) -> int:
        return len(self.seconds)

    @property
    def ms(self) -> float:
        return 1000.0 * float(np.mean(self.seconds))

    @property
    def recall(self) -> float:
        return self.matched / self.true_faces if self.true_faces else 0.0

    @property
    def false_positives_per_frame(self) -> float:
        return (self.found - self.matched) / max(1, self.frames)

    def row(self) -> DetectRow:
        """This setting's line of the report."""
        config = self.config
        return DetectRow(
            cascade=config.cascade,
            scale_factor=config.scale_factor,
            min_neighbors=config.min_neighbors,
            min_face_size=config.min_face_size,
            downscale=config.downscale,
            cascade_name=config.cascade_name,
            smallest_face_px=config.smallest_face,
            ms_mean=round(self.ms, 3),
            ms_p95=round(1000.0 * float(np.percentile(self.seconds, 95)), 3),
            cpu_ms_mean=round(1000.0 * self.cpu_seconds / max(1, self.frames), 3),
            recall=round(self.recall, 4),
            false_positives_per_frame=round(self.false_positives_per_frame, 4),
            frames=self.frames,
            true_faces=self.true_faces,
            found=self.found,
            matched=self.matched,
        )


@dataclass(frozen=True)
class DetectRow:
    """One setting's line of the report: its configuration, speed and recall."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("pareto", "reason")

    cascade: str
    scale_factor: float
    min_neighbors: int
    min_face_size: int
    downscale: float
    cascade_name: str
    smallest_face_px: int
    ms_mean: float
    ms_p95: float
    cpu_ms_mean: float
    recall: float
    false_positives_per_frame: float
    frames: int
    true_faces: int
    found: int
    matched: int
    pareto: bool | None = None  # in the table of every setting: on the Pareto front
    reason: str | None = None  # for a pick: why it was picked

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if k not in self.OPTIONAL or v is not None}


def measure_grid(
    frames: Sequence[LabelledFrame],
    configs: Sequence[DetectConfig],
    settings: Settings,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> list[DetectScore]:
    """Time and score every setting on every frame, on one OpenCV thread."""
    import cv2

    cv2.setNumThreads(1)
    detectors = [config.detector() for config in configs]
    scores = [DetectScore(config) for config in configs]
    for index, labelled in enumerate(frames):
        gray = labelled.gray(settings)
        if index == 0:  # warm every cascade once, off the clock
            for detector in detectors:
                detector.detect(gray)
        shift = index % len(configs)  # rotate the order so no setting always runs first
        for position in [*range(shift, len(configs)), *range(shift)]:
            cpu, wall = time.thread_time(), time.perf_counter()
            boxes = detectors[position].detect(gray)
            score = scores[position]
            score.seconds.append(time.perf_counter() - wall)
            score.cpu_seconds += time.thread_time() - cpu
            score.true_faces += len(labelled.truth)
            score.found += len(boxes)
            score.matched += matched_faces(boxes, labelled.truth)
        progress(index + 1, len(frames))
    return scores


def pareto_front(scores: Sequence[DetectScore]) -> list[DetectScore]:
    """Settings no other setting beats on both time and recall, fastest first."""
    front: list[DetectScore] = []
    for score in sorted(scores, key=lambda s: (s.ms, -s.recall)):
        if not front or score.recall > front[-1].recall:
            front.append(score)
    return front


def near_best(scores: Sequence[DetectScore], tolerance: float) -> list[DetectScore]:
    """The settings whose recall is within ``tolerance`` of the best of ``scores``."""
    best = max(s.recall for s in scores)
    return [s for s in scores if s.recall >= best - tolerance]


def best_within_budget(
    scores: Sequence[DetectScore],
    budget_ms: float = DEFAULT_BUDGET_MS,
    tolerance: float = RECALL_TOLERANCE,
) -> tuple[DetectScore, str]:
    """The best recall within ``budget_ms``: of the settings within ``tolerance`` of it
    (a difference that small is a face or two), the fastest. Nothing within budget: the
    fastest within ``tolerance`` of the best recall overall."""
    within = [s for s in scores if s.ms <= budget_ms]
    near = near_best(within or scores, tolerance)
    pick = min(near, key=lambda s: (s.ms, s.false_positives_per_frame))
    best = max(s.recall for s in near)
    if within:
        return pick, (
            f"the best recall within {budget_ms:g} ms per frame is {best:.3f}; of the "
            f"{len(near)} setting(s) within {tolerance:g} of it, this one is the fastest"
        )
    return pick, (
        f"no setting runs within {budget_ms:g} ms here; this is the fastest within "
        f"{tolerance:g} of the best recall ({best:.3f})"
    )


def recommend(
    scores: Sequence[DetectScore],
    reference: DetectScore | None,
    budget_ms: float = DEFAULT_BUDGET_MS,
    tolerance: float = 0.0,
) -> tuple[DetectScore, str]:
    """The setting to make the default, and why: the fastest one that loses no faces.

    Losing no faces means recall within ``tolerance`` of ``reference`` (the source
    notebook's detection) and no more false positives per frame (each one is a face that
    is not there, classified and published). Without a reference in the grid: the best
    recall within ``budget_ms`` (``best_within_budget``).
    """
    if reference is None:
        return best_within_budget(scores, budget_ms, tolerance)
    keep = [
        s
        for s in scores
        if s.recall >= reference.recall - tolerance
        and s.false_positives_per_frame <= reference.false_positives_per_frame
    ]
    pick = min(keep or [reference], key=lambda s: (s.ms, s.false_positives_per_frame))
    within = f", within {tolerance:g}" if tolerance else ""
    return pick, (
        f"the fastest setting with at least the source notebook's recall "
        f"({reference.recall:.3f}{within}) and no more false positives per frame "
        f"({reference.false_positives_per_frame:.3f}): {reference.ms / pick.ms:.1f}x faster "
        "than the notebook's detection"
    )
