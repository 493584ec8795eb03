"""Tracked boxes moved to where their faces are in the newer frame the live view draws
them on: velocities from a track's recent path, robust to one frame's jitter, never too
far ahead, never out of the frame; faces off a track, and unseen tracks, stay put."""

from __future__ import annotations

import pytest

from common.wire import Box, FaceResult, Result, StageTimings, TrackedFace, Tracks
from web.motion import MAX_GAP_SECONDS, MAX_LEAD_SECONDS, TrackMotion, moved

T0 = 1_800_000_000.0
FPS = 25.0
SIZE = (640, 480)
PROBABILITIES = (0.02, 0.02, 0.02, 0.88, 0.02, 0.02, 0.02)


def walked(motion: TrackMotion, speed: float, frames: int, track_id: str = "0000000a") -> Box:
    """``frames`` frames of one face moving right at ``speed`` px/s; its last box."""
    box = Box(100, 200, 80, 80)
    for n in range(frames):
        box = Box(round(100 + speed * n / FPS), 200, 80, 80)
        motion.observe(T0 + n / FPS, [(track_id, box)])
    return box


def test_a_face_moving_steadily_is_drawn_where_it_has_got_to() -> None:
    motion = TrackMotion()
    last = walked(motion, speed=150.0, frames=12)
    vx, vy = motion.velocities["0000000a"]
    assert vx == pytest.approx(150.0, abs=3.0) and vy == pytest.approx(0.0, abs=1e-9)
    ahead = motion.ahead("0000000a", last, 0.2, *SIZE)
    assert (ahead.x - last.x, ahead.y, ahead.w, ahead.h) == (30, 200, 80, 80)


def test_one_frames_jitter_is_not_taken_for_motion() -> None:
    motion = TrackMotion()
    for n in range(15):
        jitter = 3 if n % 2 else -3  # a still face, its detected box shaking
        motion.observe(T0 + n / FPS, [("0000000b", Box(300 + jitter, 200 - jitter, 80, 80))])
    box = Box(300, 200, 80, 80)
    ahead = motion.ahead("0000000b", box, 0.3, *SIZE)
    assert abs(ahead.x - box.x) <= 2 and abs(ahead.y - box.y) <= 2


def test_a_new_or_returning_track_has_no_velocity_yet() -> None:
    motion = TrackMotion()
    walked(motion, speed=150.0, frames=2)  # 40 ms of path: too short to tell a speed
    assert motion.velocities == {}
    walked(motion, speed=150.0, frames=12)
    assert "0000000a" in motion.velocities
    late = T0 + 12 / FPS + MAX_GAP_SECONDS + 0.5  # back after hiding
    motion.observe(late, [("0000000a", Box(400, 200, 80, 80))])
    assert motion.velocities == {}
    motion.observe(late + 0.04, [])  # not seen: forgotten
    assert motion.velocities == {}


def test_a_track_missed_for_a_frame_or_two_moves_on_at_once_when_it_is_back() -> None:
    motion = TrackMotion()
    walked(motion, speed=150.0, frames=12)
    missed = T0 + 12 / FPS
    motion.observe(missed, [])  # the detector missed the face on two frames
    motion.observe(missed + 1 / FPS, [])
    assert motion.velocities == {}  # an unseen track is not moved
    back = Box(round(100 + 150.0 * 14 / FPS), 200, 80, 80)
    motion.observe(missed + 2 / FPS, [("0000000a", back)])
    vx, _ = motion.velocities["0000000a"]
    assert vx == pytest.approx(150.0, abs=5.0)
    motion.observe(missed + 2 / FPS + MAX_GAP_SECONDS - 0.1, [])
    assert motion.kept == {"0000000a"}
    motion.observe(missed + 2 / FPS + MAX_GAP_SECONDS + 0.1, [])
    assert motion.kept == frozenset()  # unseen for longer: forgotten


def test_boxes_go_no_further_than_the_lead_and_stay_in_the_frame() -> None:
    motion = TrackMotion()
    last = walked(motion, speed=200.0, frames=12)
    far = motion.ahead("0000000a", last, 3.0, *SIZE)
    assert far.x - last.x == pytest.approx(200.0 * MAX_LEAD_SECONDS, abs=4)
    edge = motion.ahead("0000000a", Box(600, 200, 80, 80), 0.4, *SIZE)
    assert edge.x == SIZE[0] - 80  # against the right edge, not past it
    assert motion.ahead("0000000a", last, -0.1, *SIZE) == last  # an older frame: as it is


def test_moved_shifts_a_tracked_face_in_both_the_result_and_its_track() -> None:
    motion = TrackMotion()
    box = walked(motion, speed=150.0, frames=12)
    captured = T0 + 11 / FPS
    still = Box(400, 50, 60, 60)  # a face on no track
    result = Result(
        camera_id="door",
        frame_number=11,
        captured_at=captured,
        faces=(FaceResult(box, 3, PROBABILITIES), FaceResult(still, 3, PROBABILITIES)),
        timings=StageTimings(0.001, 0.002, 0.01, 0.005, 0.02),
        worker_id="w",
        model_id="m",
        published_at=captured + 0.05,
    )
    hidden = Box(20, 20, 50, 50)
    tracks = Tracks(
        camera_id="door",
        frame_number=11,
        captured_at=captured,
        tracks=(
            TrackedFace("0000000a", box, True, PROBABILITIES, PROBABILITIES, 3, T0, captured, 12),
            TrackedFace("0000000c", hidden, False, None, PROBABILITIES, 3, T0, T0 + 0.1, 3),
        ),
        published_at=captured + 0.06,
    )

    shown, on_tracks = moved(motion, result, tracks, captured + 0.2, SIZE)

    moving, other = shown.faces
    assert moving.box.x - box.x == 30 and (moving.box.y, moving.box.w) == (box.y, box.w)
    assert other.box == still
    assert on_tracks.tracks[0].box == moving.box  # the drawing still pairs face and track
    assert on_tracks.tracks[1].box == hidden  # a predicted box is not moved again
    assert moved(motion, result, tracks, captured, SIZE) == (result, tracks)
