"""Detection guided by tracks: look for faces near where a camera's tracks last were.

Haar on the whole frame is most of a worker's time. For a camera with live tracks the
track service keeps the last boxes in Redis (``common.hints``, written with each
``Tracks`` message, short-lived). A worker reads the hints of a batch's cameras in one
round trip and, for a frame with hints, runs the cascade only in a region around each
box, at scales near the box's. It still searches the whole frame when there is no recent
hint, every ``full_every``-th frame of a camera (so new faces are found), and when the
region of a face seen in the hint's frame comes back empty (a miss: the face moved or
left). A track already missing (occluded, or gone) is looked for in its region; not
finding it there again asks for a whole-frame search only every ``missing_full_every``-th
frame, soon enough to find the face again before its track ends, far cheaper than a
search of every frame while it is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from common.hints import Hint
from worker.detector import BoxTuple, FaceDetector

REGION_GROWTH = 0.4  # a region reaches this many box sides beyond each edge of the box
# the faces looked for in a region, as multiples of the hint side: about one step of the
# cascade's scale pyramid (1.2) either way (0.75-1.35 found no more, at 1.4x the time)
SCALE_RANGE = (0.83, 1.2)
REGION_DOWNSCALE = 0.35
DUPLICATE_IOU = 0.4  # two regions' finds that overlap this much are one face


@dataclass(frozen=True)
class GuidancePolicy:
    full_every: int = 10  # frames of a camera between whole-frame searches
    max_hint_age: int = 15  # frames; an older hint is not used
    # while a hinted track is missing and not found near its box: frames between
    # whole-frame searches (2: within 0.4 s at 5 fps, well inside a track's 1.5 s of
    # coasting; bench-tracks at 5 fps: every 3rd frame lost 0.5 points of recall, every 2nd
    # none, at the same speed)
    missing_full_every: int = 2


def should_search_whole(frame_number: int, hint: Hint | None, policy: GuidancePolicy) -> bool:
    if hint is None or not hint.boxes:
        return True
    if frame_number % policy.full_every == 0:
        return True
    return not 0 <= frame_number - hint.frame_number <= policy.max_hint_age


def region_around(box: BoxTuple, width: int, height: int) -> BoxTuple:
    x, y, w, h = box
    grow_x, grow_y = round(w * REGION_GROWTH), round(h * REGION_GROWTH)
    x0, y0 = max(0, x - grow_x), max(0, y - grow_y)
    x1, y1 = min(width, x + w + grow_x), min(height, y + h + grow_y)
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def recheck_missing(frame_number: int, policy: GuidancePolicy) -> bool:
    """Whether a missing track not found near its box asks for a whole-frame search."""
    return frame_number % policy.missing_full_every == 0


def detect_guided(
    detector: FaceDetector,
    gray: npt.NDArray[np.uint8],
    hint: Hint,
    captured_at: float,
    recheck: bool = False,
) -> list[BoxTuple] | None:
    """Faces found near the hint's boxes, carried forward to ``captured_at``, or None on
    a miss (then the whole frame is searched): of a face the hint saw, or, with
    ``recheck``, of one already missing."""
    height, width = gray.shape[:2]
    found: list[BoxTuple] = []
    for box, missing in hint.boxes_at(captured_at):
        rx, ry, rw, rh = region_around(box, width, height)
        side = max(box[2], box[3])
        in_region = detector.detect_in(
            gray[ry : ry + rh, rx : rx + rw],
            min_side=round(side * SCALE_RANGE[0]),
            max_side=round(side * SCALE_RANGE[1]),
            downscale=REGION_DOWNSCALE,
        )
        if not in_region and (recheck or not missing):
            return None
        found.extend((x + rx, y + ry, w, h) for x, y, w, h in in_region)
    return _distinct(found)


def _distinct(boxes: list[BoxTuple]) -> list[BoxTuple]:
    kept: list[BoxTuple] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if all(_iou(box, other) < DUPLICATE_IOU for other in kept):
            kept.append(box)
    return kept


def _iou(a: BoxTuple, b: BoxTuple) -> float:
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0
