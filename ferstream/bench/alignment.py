"""How well the live view's boxes sit on their faces: the tracks of frame N drawn on the
newer frame M it shows (``lag`` seconds later), as they are, trailing a moving face, and
moved along their tracks (``web.motion``); scored by IoU with each face's true box in
frame M. A lag of 0 (tracks on their own frame) is the detector's own fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from common.wire import Box
from ferstream.bench.sequences import START, Tracked
from ferstream.bench.track_scores import match_boxes
from ferstream.scoring import iou
from tracking.tracker import TrackState
from web.motion import TrackMotion

# the live view runs this far behind its frames (whole frames apart at 5 and 25 fps)
LAGS_SECONDS = (0.0, 0.2, 0.4)
ON_FACE_IOU = 0.5  # a box this close to its face sits on it
UNBOUNDED = 1 << 16  # the sequences' boxes never reach a frame's edge: no clamping


@dataclass(frozen=True)
class AlignmentRow:
    fps: float
    lag_seconds: float  # frames apart / fps
    faces: int  # tracked faces scored (seen on a track in frame N, present in frame M)
    iou_as_is: float  # mean IoU with the face's true box in frame M
    iou_moved: float
    on_face_as_is: float  # share of boxes with IoU >= ON_FACE_IOU
    on_face_moved: float


def score_alignment(frames: Sequence[Tracked], fps: float, lag_seconds: float) -> AlignmentRow:
    """Every frame's seen tracks drawn ``lag_seconds`` (rounded to whole frames) later,
    both ways."""
    steps = round(lag_seconds * fps)
    lag = steps / fps
    motions = _motions(frames)
    as_is: list[float] = []
    moved: list[float] = []
    for m in range(steps, len(frames)):
        drawn, shown = frames[m - steps], frames[m]
        seconds = shown.at - drawn.at
        if abs(seconds - lag) > 0.5 / fps:
            continue  # a gap between two scenes laid end to end
        truth = {t["actor"]: t["box"] for t in shown.truth}
        for actor, state in _tracked(drawn).items():
            if actor not in truth:
                continue
            box = Box(*state.box)
            ahead = motions[m - steps].ahead(state.track_id, box, seconds, UNBOUNDED, UNBOUNDED)
            as_is.append(iou(list(state.box), truth[actor]))
            moved.append(iou(ahead.as_list(), truth[actor]))
    count = len(as_is)
    return AlignmentRow(
        fps,
        lag,
        count,
        _mean(as_is),
        _mean(moved),
        _mean([float(v >= ON_FACE_IOU) for v in as_is]),
        _mean([float(v >= ON_FACE_IOU) for v in moved]),
    )


def _motions(frames: Sequence[Tracked]) -> list[TrackMotion]:
    """The velocities the live view would know after each frame's tracks."""
    motion, out = TrackMotion(), []
    for frame in frames:
        seen = [(s.track_id, Box(*s.box)) for s in frame.tracks if s.seen]
        motion.observe(START + frame.at, seen)
        out.append(TrackMotion(velocities=dict(motion.velocities)))
    return out


def _tracked(frame: Tracked) -> dict[int, TrackState]:
    """The frame's seen tracks by the actor whose face each one is on."""
    seen = [s for s in frame.tracks if s.seen]
    matched = match_boxes([s.box for s in seen], frame.truth)
    return {int(frame.truth[j]["actor"]): seen[i] for j, i in matched.items()}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
