"""Matching a frame's detections to the live tracks: IoU, then the Hungarian assignment."""

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
    matched_tracks = {r for r, _ in matches}
    matched_detections = {c for _, c in matches}
    return Assignment(
        matches,
        tuple(i for i in range(len(tracks)) if i not in matched_tracks),
        tuple(j for j in range(len(detections)) if j not in matched_detections),
    )
