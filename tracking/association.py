"""Matching a frame's detections to the live tracks: IoU, then the Hungarian assignment.

A track that lost its face for a while is matched again by the distance of the centres
(``assign_near``): its predicted box may have fallen behind a face that kept moving while
hidden, far enough that the boxes barely overlap, so the face is looked for near that
prediction and near one that kept the face's speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

BoxArray = npt.NDArray[np.float64]  # (N, 4) rows of x, y, w, h


@dataclass(frozen=True)
class Assignment:
    """Index pairs (track, detection), and the tracks and detections left unmatched."""

    matches: tuple[tuple[int, int], ...]
    unmatched_tracks: tuple[int, ...]
    unmatched_detections: tuple[int, ...]


def as_boxes(boxes: Sequence[Sequence[float]]) -> BoxArray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def iou_matrix(tracks: BoxArray, detections: BoxArray) -> npt.NDArray[np.float64]:
    """(T, D) intersection over union of every track box with every detection box."""
    tx0, ty0 = tracks[:, 0:1], tracks[:, 1:2]
    tx1, ty1 = tx0 + tracks[:, 2:3], ty0 + tracks[:, 3:4]
    dx0, dy0 = detections[:, 0], detections[:, 1]
    dx1, dy1 = dx0 + detections[:, 2], dy0 + detections[:, 3]
    inter_w = np.clip(np.minimum(tx1, dx1) - np.maximum(tx0, dx0), 0.0, None)
    inter_h = np.clip(np.minimum(ty1, dy1) - np.maximum(ty0, dy0), 0.0, None)
    inter = inter_w * inter_h
    union = tracks[:, 2:3] * tracks[:, 3:4] + detections[:, 2] * detections[:, 3] - inter
    return np.asarray(np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0))


def assign(tracks: BoxArray, detections: BoxArray, min_iou: float) -> Assignment:
    """The assignment that maximises total IoU, keeping only pairs at ``min_iou`` or more."""
    if len(tracks) == 0 or len(detections) == 0:
        return Assignment((), tuple(range(len(tracks))), tuple(range(len(detections))))
    overlap = iou_matrix(tracks, detections)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    matches = tuple(
        (int(r), int(c)) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= min_iou
    )
    return _with_unmatched(matches, len(tracks), len(detections))


def assign_near(
    guesses: Sequence[BoxArray], detections: BoxArray, max_sides: float, max_size_ratio: float
) -> Assignment:
    """The assignment that minimises the total distance of centres, each track's to the
    nearest of its ``guesses`` (arrays of one box per track, such as predictions made two
    ways), keeping only pairs at most ``max_sides`` track sides apart whose sides differ by
    at most ``max_size_ratio`` times."""
    tracks = guesses[0]
    if len(tracks) == 0 or len(detections) == 0:
        return Assignment((), tuple(range(len(tracks))), tuple(range(len(detections))))
    side = np.maximum(tracks[:, 2:3], tracks[:, 3:4])
    detection_centres = detections[:, :2] + detections[:, 2:] / 2.0
    sides_apart = np.min(
        [
            np.linalg.norm(
                (guess[:, :2] + guess[:, 2:] / 2.0)[:, None, :] - detection_centres[None, :, :],
                axis=2,
            )
            for guess in guesses
        ],
        axis=0,
    ) / np.maximum(side, 1.0)
    ratio = np.maximum(detections[:, 2], detections[:, 3])[None, :] / np.maximum(side, 1.0)
    allowed = (sides_apart <= max_sides) & (np.maximum(ratio, 1.0 / ratio) <= max_size_ratio)
    cost = np.where(allowed, sides_apart, 1e6)
    rows, cols = linear_sum_assignment(cost)
    matches = tuple((int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c])
    return _with_unmatched(matches, len(tracks), len(detections))


def _with_unmatched(
    matches: tuple[tuple[int, int], ...], tracks: int, detections: int
) -> Assignment:
    """``matches``, and the tracks and detections (of so many) they leave out."""
    matched_tracks = {r for r, _ in matches}
    matched_detections = {c for _, c in matches}
    return Assignment(
        matches,
        tuple(i for i in range(tracks) if i not in matched_tracks),
        tuple(j for j in range(detections) if j not in matched_detections),
    )
