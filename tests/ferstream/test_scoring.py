"""The demo's figures: box overlap, matching found faces to true ones, the scoreboard."""

from __future__ import annotations

import math

import pytest

from common.wire import EMOTIONS, Box, FaceResult, Result, StageTimings
from ferstream.scoring import Scoreboard, iou, match_faces

HAPPY, SAD, ANGRY = EMOTIONS.index("happy"), EMOTIONS.index("sad"), EMOTIONS.index("angry")


def result(
    camera_id: str,
    frame_number: int,
    faces: list[tuple[list[int], int]],
    latency: float = 0.1,
) -> Result:
    """A published result with one-hot probabilities for each (box, label)."""
    captured = 1_700_000_000.0 + frame_number
    return Result(
        camera_id=camera_id,
        frame_number=frame_number,
        captured_at=captured,
        faces=tuple(
            FaceResult(Box(*box), label, tuple(float(i == label) for i in range(len(EMOTIONS))))
            for box, label in faces
        ),
        timings=StageTimings(queue_wait=0.01, decode=0.002, detect=0.03, classify=0.02, total=0.06),
        worker_id="w1",
        model_id="m1",
        published_at=captured + latency,
    )


def truth(*faces: tuple[list[int], int]) -> list[dict[str, object]]:
    return [{"box": box, "label": label} for box, label in faces]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 10, 10], 50 / 150),
        ([0, 0, 10, 10], [5, 5, 10, 10], 25 / 175),
        ([0, 0, 10, 10], [0, 0, 5, 5], 25 / 100),
        ([0, 0, 10, 10], [10, 0, 10, 10], 0.0),
        ([0, 0, 10, 10], [50, 50, 10, 10], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
    ids=["same", "half across", "quarter corner", "inside", "touching", "apart", "empty"],
)
def test_iou(a: list[int], b: list[int], expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("found", "true_faces", "expected"),
    [
        ([], truth(([0, 0, 10, 10], HAPPY)), []),
        ([([0, 0, 10, 10], SAD)], [], []),
        ([([1, 1, 10, 10], SAD)], truth(([0, 0, 10, 10], HAPPY)), [(HAPPY, SAD)]),
        ([([0, 0, 5, 5], SAD)], truth(([0, 0, 10, 10], HAPPY)), []),  # IoU 0.25 < 0.3
        (
            [([0, 0, 10, 10], SAD), ([2, 0, 10, 10], ANGRY)],
            truth(([0, 0, 10, 10], HAPPY)),
            [(HAPPY, SAD)],
        ),
        (
            [([0, 0, 10, 10], SAD)],
            truth(([3, 0, 10, 10], ANGRY), ([1, 0, 10, 10], HAPPY)),
            [(HAPPY, SAD)],
        ),
        (
            [([0, 0, 10, 10], SAD), ([100, 0, 10, 10], ANGRY)],
            truth(([100, 1, 10, 10], ANGRY), ([1, 0, 10, 10], HAPPY)),
            [(ANGRY, ANGRY), (HAPPY, SAD)],
        ),
        (
            [([0, 0, 10, 10], SAD), ([4, 0, 10, 10], ANGRY)],
            truth(([1, 0, 10, 10], HAPPY), ([8, 0, 10, 10], SAD)),
            [(HAPPY, SAD), (SAD, ANGRY)],
        ),
        (
            # greedy: the best pair (0.82) goes first, though pairing the other way matches both
            [([10, 0, 10, 10], SAD), ([16, 0, 10, 10], ANGRY)],
            truth(([11, 0, 10, 10], HAPPY), ([6, 0, 10, 10], SAD)),
            [(HAPPY, SAD)],
        ),
    ],
    ids=[
        "nothing found",
        "no faces there",
        "one match",
        "too little overlap",
        "two boxes on one face",
        "one box between two faces",
        "two faces two boxes",
        "second-best pair",
        "best pair first",
    ],
)
def test_match_faces_is_greedy_and_one_to_one(
    found: list[tuple[list[int], int]],
    true_faces: list[dict[str, object]],
    expected: list[tuple[int, int]],
) -> None:
    assert sorted(match_faces(found, true_faces)) == sorted(expected)


def test_scoreboard_scores_results_against_truth() -> None:
    board = Scoreboard()
    board.record_truth("cam0", 0, truth(([0, 0, 100, 100], HAPPY), ([200, 0, 100, 100], SAD)))
    board.record_truth("cam0", 1, truth(([0, 0, 100, 100], HAPPY)))

    board.add(result("cam0", 0, [([2, 2, 100, 100], HAPPY), ([400, 0, 50, 50], SAD)]))
    board.add(result("cam0", 1, [([0, 0, 100, 100], ANGRY)]))
    summary = board.summary()

    assert (summary["frames"], summary["faces"]) == (2, 3)
    assert summary["face_recall"] == pytest.approx(2 / 3, abs=1e-3)  # 2 of 3 true faces found
    assert summary["label_accuracy"] == 0.5  # 1 of the 2 matched faces labelled right
    assert summary["emotions"] == {**dict.fromkeys(EMOTIONS, 0), "happy": 1, "sad": 1, "angry": 1}
    assert summary["latency_ms"]["p50"] == pytest.approx(100.0, abs=0.1)
    assert summary["stage_ms_median"]["detect"] == pytest.approx(30.0)


def test_a_result_that_arrives_before_its_truth_is_scored_later() -> None:
    board = Scoreboard()

    board.add(result("cam0", 7, [([0, 0, 100, 100], SAD)]))
    assert board.summary()["face_recall"] is None  # nothing to score against yet
    assert board.summary()["frames"] == 1

    board.record_truth("cam0", 7, truth(([0, 0, 100, 100], SAD)))
    assert (board.summary()["face_recall"], board.summary()["label_accuracy"]) == (1.0, 1.0)
    assert board.early == {} and board.truth == {}


def test_results_are_matched_by_camera_and_frame_number() -> None:
    board = Scoreboard()
    board.record_truth("cam0", 3, truth(([0, 0, 100, 100], SAD)))

    board.add(result("cam1", 3, [([0, 0, 100, 100], HAPPY)]))  # another camera's frame 3

    assert board.summary()["face_recall"] is None
    board.add(result("cam0", 3, []))
    assert (board.summary()["face_recall"], board.summary()["label_accuracy"]) == (0.0, None)


def test_an_empty_scoreboard_has_no_rates() -> None:
    summary = Scoreboard().summary()

    assert (summary["frames"], summary["faces"], summary["frames_per_s"]) == (0, 0, 0.0)
    assert summary["face_recall"] is None and summary["label_accuracy"] is None
    assert math.isnan(summary["latency_ms"]["p50"])
