"""Association, smoothing, tracks and reordering: the track stage's logic on known motion."""

from __future__ import annotations

import numpy as np
import pytest

from tracking.association import as_boxes, assign, iou_matrix
from tracking.reorder import ReorderBuffer
from tracking.smoothing import EmotionSmoother, SmoothingConfig
from tracking.tracker import CameraTracker, Face, TrackerConfig

HAPPY = (0.02, 0.02, 0.02, 0.86, 0.04, 0.02, 0.02)
SAD = (0.02, 0.02, 0.04, 0.02, 0.04, 0.84, 0.02)
FLAT = (1 / 7,) * 7


def face(x: float, y: float, probabilities: tuple[float, ...] = HAPPY, side: float = 60) -> Face:
    return Face((x, y, side, side), probabilities)


def test_iou_of_equal_disjoint_and_half_overlapping_boxes() -> None:
    boxes = as_boxes([[0, 0, 10, 10]])
    others = as_boxes([[0, 0, 10, 10], [20, 20, 5, 5], [5, 0, 10, 10]])
    np.testing.assert_allclose(iou_matrix(boxes, others), [[1.0, 0.0, 50 / 150]])


def test_the_assignment_maximises_total_overlap_and_drops_weak_pairs() -> None:
    tracks = as_boxes([[0, 0, 10, 10], [100, 0, 10, 10]])
    # greedy on the first track would take detection 0; the best total pairs it with 1
    detections = as_boxes([[101, 0, 10, 10], [1, 0, 10, 10], [300, 300, 10, 10]])
    result = assign(tracks, detections, min_iou=0.2)
    assert sorted(result.matches) == [(0, 1), (1, 0)]
    assert result.unmatched_detections == (2,)
    assert assign(tracks, as_boxes([[8, 8, 10, 10]]), min_iou=0.2).matches == ()
    empty = assign(as_boxes([]), detections, 0.2)
    assert empty.matches == () and empty.unmatched_detections == (0, 1, 2)


def test_the_average_settles_by_time_not_by_frame_count() -> None:
    config = SmoothingConfig(half_life_seconds=0.5)
    for fps in (4, 10, 30):
        smoother = EmotionSmoother(config)
        smoother.update(np.asarray(HAPPY), 0.0)
        for k in range(1, fps // 2 + 1):  # half a second of sad frames
            smoother.update(np.asarray(SAD), k / fps)
        assert smoother.average is not None
        # after one half-life, half way between happy and sad, at either rate
        assert smoother.average[5] == pytest.approx((0.02 + 0.84) / 2, abs=0.01), fps


def test_the_label_switches_only_after_a_lead_held_long_enough() -> None:
    smoother = EmotionSmoother(SmoothingConfig(half_life_seconds=0.1, hold_seconds=0.3))
    smoother.update(np.asarray(HAPPY), 0.0)
    assert smoother.label == 3
    smoother.update(np.asarray(SAD), 0.1)
    smoother.update(np.asarray(HAPPY), 0.2)  # one odd frame does not flip the label
    assert smoother.label == 3
    times = [0.3 + 0.1 * k for k in range(8)]
    labels = []
    for at in times:
        smoother.update(np.asarray(SAD), at)
        labels.append(smoother.label)
    first_sad = times[labels.index(5)]
    assert 0.5 <= first_sad <= 0.8  # the lead appears after ~0.1 s, then is held 0.3 s
    assert labels[-1] == 5


def test_a_flat_distribution_is_uncertain() -> None:
    smoother = EmotionSmoother(SmoothingConfig(confidence_floor=0.35))
    smoother.update(np.asarray(FLAT), 0.0)
    assert smoother.label is None


def test_a_face_near_the_floor_does_not_blink_in_and_out_of_uncertain() -> None:
    smoother = EmotionSmoother(SmoothingConfig(half_life_seconds=0.01, confidence_floor=0.3))
    near = [(0.29 if k % 2 else 0.32) for k in range(10)]  # either side of the floor
    labels = []
    for k, p in enumerate(near):
        rest = (1.0 - p) / 6
        smoother.update(np.asarray([p, *[rest] * 6]), k * 0.1)
        labels.append(smoother.label)
    assert labels[0] == 0  # sure enough at first
    assert labels[1:] == [None] * 9  # once uncertain, 0.32 is not enough to come back
    smoother.update(np.asarray([0.4, *[0.1] * 6]), 1.0)
    assert smoother.label == 0


def test_a_track_is_confirmed_coasts_through_misses_and_then_ends() -> None:
    tracker = CameraTracker(TrackerConfig(min_hits=2, max_missed_seconds=0.35))
    assert tracker.update([face(100, 100)], 0.0) == []  # tentative
    states = tracker.update([face(104, 100)], 0.1)
    assert len(states) == 1 and states[0].seen
    track_id = states[0].track_id
    for k in range(2, 5):  # moving 4 px a frame, missed for 0.3 s: predicted boxes
        states = tracker.update([], k * 0.1)
        assert [s.track_id for s in states] == [track_id] and not states[0].seen
    assert 108 <= states[0].box[0] <= 116  # its velocity carried it on, slowing down
    states = tracker.update([face(120, 100)], 0.5)  # found again where predicted
    assert [s.track_id for s in states] == [track_id] and states[0].seen
    for k in range(6, 10):
        states = tracker.update([], k * 0.1)
    assert states == [] and tracker.tracks == [] and tracker.ended == 1


def test_two_crossing_faces_keep_their_ids() -> None:
    tracker = CameraTracker(TrackerConfig())
    ids: dict[int, set[str]] = {0: set(), 1: set()}
    for k in range(30):
        left, right = 50 + 10 * k, 400 - 10 * k  # they overlap as they pass each other
        states = tracker.update([face(left, 100), face(right, 130, SAD)], k * 0.04)
        for s in states:
            ids[0 if s.box[1] < 115 else 1].add(s.track_id)
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1]


def test_a_duplicate_find_of_a_face_does_not_take_its_track() -> None:
    """Haar finds some faces twice, at two scales: the larger box starts a tentative
    track, but when only that box is found next, the face's own track takes it."""
    tracker = CameraTracker(TrackerConfig(min_hits=2))
    for k in range(3):
        states = tracker.update([face(100 + 5 * k, 100)], k * 0.2)
    (own,) = [s.track_id for s in states]
    tracker.update([face(115, 100), face(95, 80, side=100)], 0.6)  # both boxes
    states = tracker.update([face(100, 80, side=100)], 0.8)  # only the large one
    assert [s.track_id for s in states if s.seen] == [own]


def test_a_face_that_moved_on_while_hidden_gets_its_track_back() -> None:
    """Hidden for 0.6 s, the face moved on at its speed while the track's prediction slowed
    down: their boxes barely overlap, yet the face is matched to its track again."""
    tracker = CameraTracker(TrackerConfig(max_missed_seconds=1.5))
    for k in range(5):  # 100 px/s
        states = tracker.update([face(100 + 20 * k, 100)], k * 0.2)
    (own,) = [s.track_id for s in states]
    for k in range(5, 8):
        tracker.update([], k * 0.2)
    states = tracker.update([face(100 + 20 * 8, 100)], 8 * 0.2)
    assert [s.track_id for s in states if s.seen] == [own]


def test_a_false_find_beside_a_hidden_face_does_not_take_its_track() -> None:
    tracker = CameraTracker(TrackerConfig(max_missed_seconds=1.5))
    for k in range(5):
        states = tracker.update([face(100, 100)], k * 0.2)
    (own,) = [s.track_id for s in states]
    tracker.update([], 1.0)  # the face is hidden; an occluder's edge is found below it
    states = tracker.update([face(100, 160, FLAT)], 1.2)
    assert own not in {s.track_id for s in states if s.seen}
    states = tracker.update([face(100, 100), face(100, 160, FLAT)], 1.4)
    assert own in {s.track_id for s in states if s.seen}


def test_one_frame_false_detections_are_never_published() -> None:
    tracker = CameraTracker(TrackerConfig(min_hits=2))
    published = []
    for k in range(10):
        faces = [face(100, 100)] + ([face(500, 300, FLAT)] if k % 3 == 0 else [])
        published += tracker.update(faces, k * 0.1)
    assert len({s.track_id for s in published}) == 1


def test_track_ids_are_random_and_not_reused() -> None:
    seen = set()
    for _ in range(50):
        tracker = CameraTracker(TrackerConfig(min_hits=1))
        (state,) = tracker.update([face(10, 10)], 0.0)
        seen.add(state.track_id)
    assert len(seen) == 50


def test_the_reorder_buffer_releases_in_frame_order() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(window=3, max_wait_seconds=10.0)
    released = []
    for n in (1, 0, 3, 2, 4):
        released += buffer.push(n, n, now=0.0)
    released += buffer.flush()
    assert released == [0, 1, 2, 3, 4]


def test_a_missing_frame_is_waited_for_only_so_long() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(window=8, max_wait_seconds=0.5)
    assert buffer.push(0, 0, now=0.0) == []  # the first frame waits: others may be earlier
    assert buffer.release(now=0.6) == [0]
    assert buffer.push(2, 2, now=0.7) == []  # frame 1 never comes (dropped as stale)
    assert buffer.release(now=1.0) == []
    assert buffer.release(now=1.3) == [2]
    assert buffer.push(1, 1, now=1.4) == []  # too late: tracks moved past it
    assert buffer.late == 1
    assert buffer.push(3, 3, now=1.5) == [3]  # the next frame in order goes at once


def test_a_full_window_releases_the_oldest() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(window=2, max_wait_seconds=10.0)
    assert buffer.push(5, 5, 0.0) == [] and buffer.push(7, 7, 0.0) == []
    assert buffer.push(9, 9, 0.0) == [5]
