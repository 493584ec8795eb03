"""The live view's box alignment score (bench-tracks): a face moving steadily, its track
drawn a few frames late, sits on it once moved along its track and not before."""

from __future__ import annotations

import pytest

from common.wire import Box, FaceResult, Result, StageTimings
from ferstream.bench.alignment import score_alignment
from ferstream.bench.sequences import START, Tracked
from tracking.tracker import TrackState

FPS = 25.0
PROBABILITIES = (0.02, 0.02, 0.02, 0.88, 0.02, 0.02, 0.02)


def moving_face(frames: int, speed: float, start_at: float = 0.0) -> list[Tracked]:
    """One actor moving right at ``speed`` px/s, its track exactly on it every frame."""
    out = []
    for n in range(frames):
        at = start_at + n / FPS
        box = (round(50 + speed * n / FPS), 100, 80, 80)
        result = Result(
            camera_id="sequence",
            frame_number=n,
            captured_at=START + at,
            faces=(FaceResult(Box(*box), 3, PROBABILITIES),),
            timings=StageTimings(0.001, 0.002, 0.01, 0.005, 0.02),
            worker_id="w",
            model_id="m",
            published_at=START + at + 0.05,
        )
        state = TrackState("0000000a", box, True, PROBABILITIES, PROBABILITIES, 3, START, at, n + 1)
        truth = ({"actor": 7, "box": list(box), "label": 3, "visible": True},)
        out.append(Tracked(at, result, (state,), truth, 0.01))
    return out


def test_a_late_box_trails_its_face_and_the_moved_one_sits_on_it() -> None:
    frames = moving_face(50, speed=200.0)

    on_time = score_alignment(frames, FPS, 0.0)
    late = score_alignment(frames, FPS, 0.2)

    assert on_time.iou_as_is == on_time.iou_moved == 1.0
    assert late.lag_seconds == pytest.approx(0.2) and late.faces == 45
    assert late.iou_as_is < 0.6  # 40 px behind an 80 px face
    assert late.iou_moved > 0.95 > late.on_face_as_is
    # all but the track's first 3 frames, whose path is too short to tell a speed
    assert late.on_face_moved == pytest.approx(42 / 45)


def test_two_scenes_laid_end_to_end_are_not_paired_across_the_gap() -> None:
    first = moving_face(10, speed=200.0)
    second = moving_face(10, speed=200.0, start_at=100.0)
    assert score_alignment(first + second, FPS, 0.2).faces == 2 * (10 - 5)
