"""Track-guided detection: the real cascade on moving faces, hints through a real Redis."""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest
import redis

from common.hints import MAX_HINT_BOXES, Hint, HintedBox, read_hints, write_hint
from common.keys import track_hints
from common.settings import Settings
from common.wire import Frame
from ferstream.scoring import iou
from producer.encoding import encode_jpeg
from producer.motion import MotionSequence
from tracking.tracker import CameraTracker, Face, TrackerConfig
from worker.decoding import decode_gray
from worker.detector import HaarFaceDetector
from worker.guidance import GuidancePolicy, detect_guided, region_around, should_search_whole
from worker.pipeline import FramePipeline

T0 = 1_800_000_000.0


def hinted(frame_number: int, *boxes: tuple[int, int, int, int]) -> Hint:
    return Hint(frame_number, T0, tuple(HintedBox(box) for box in boxes))


def test_a_hinted_box_is_carried_forward_by_its_velocity_for_at_most_a_second() -> None:
    moving_right = HintedBox((100, 50, 40, 40), (20.0, -10.0))
    assert moving_right.at(0.5) == (110, 45, 40, 40)
    assert moving_right.at(5.0) == moving_right.at(1.0) == (120, 40, 40, 40)
    assert moving_right.at(-1.0) == (100, 50, 40, 40)
    hint = Hint(3, T0, (moving_right,))
    assert hint.boxes_at(T0 + 0.5) == [((110, 45, 40, 40), False)]


@pytest.fixture(scope="module")
def moving(fer_data_dir: Path) -> MotionSequence:
    return MotionSequence(fer_data_dir, duration=10.0, seed=3, actors=2)


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector.from_settings(Settings())


def gray_at(sequence: MotionSequence, at: float) -> np.ndarray:
    image, _ = sequence.frame_at(at)
    return decode_gray(encode_jpeg(image, 90), "jpeg", 10**8, 10**8)


def visible_truth(sequence: MotionSequence, at: float) -> list[list[int]]:
    return [t["box"] for t in sequence.frame_at(at)[1] if t["visible"]]


def test_guided_detection_finds_the_faces_the_whole_frame_search_finds(
    moving: MotionSequence, detector: HaarFaceDetector
) -> None:
    """Near its own boxes the cascade finds the same faces again, or says it missed (the
    pipeline then searches the whole frame): it never returns a wrong answer."""
    agreed = compared = misses = frames = 0
    for at in np.arange(0.0, 8.0, 0.25):
        gray = gray_at(moving, float(at))
        whole = detector.detect(gray)
        if not whole:
            continue
        frames += 1
        guided = detect_guided(detector, gray, hinted(0, *whole), T0)  # as tracks would hint
        if guided is None:
            misses += 1
            continue
        compared += len(whole)
        agreed += sum(any(iou(list(w), list(g)) >= 0.5 for g in guided) for w in whole)
    assert frames >= 20
    assert misses <= frames * 0.25
    assert agreed / compared >= 0.95


def test_a_hint_where_no_face_is_a_miss(detector: HaarFaceDetector) -> None:
    rng = np.random.default_rng(0)
    empty = np.clip(rng.normal(128, 6, size=(480, 640)), 0, 255).astype(np.uint8)
    assert detect_guided(detector, empty, hinted(0, (300, 200, 120, 120)), T0) is None


def test_a_missing_track_not_found_again_is_no_miss(
    moving: MotionSequence, detector: HaarFaceDetector
) -> None:
    """An occluded or departed face (its track coasts) is looked for near where it was;
    not finding it there again asks for no whole-frame search, while the faces the hint
    saw are still found."""
    at = next(
        float(t) for t in np.arange(0.0, 8.0, 0.25) if detector.detect(gray_at(moving, float(t)))
    )
    gray = gray_at(moving, at)
    seen = [HintedBox(box) for box in detector.detect(gray)]
    gone = HintedBox((0, 0, 50, 50), missing=True)  # an empty corner
    found = detect_guided(detector, gray, Hint(0, T0, (*seen, gone)), T0)
    assert found is not None and len(found) == len(seen)
    assert detect_guided(detector, gray, Hint(0, T0, (*seen, HintedBox(gone.box))), T0) is None


def test_a_coasting_track_is_hinted_as_missing_and_without_velocity() -> None:
    tracker = CameraTracker(TrackerConfig())
    probabilities = (0.1, 0.0, 0.0, 0.8, 0.1, 0.0, 0.0)
    for number in range(3):
        tracker.update([Face((100 + 10 * number, 50, 80, 80), probabilities)], T0 + number / 5)
    (moving_box,) = tracker.hint_at(2, T0 + 0.4).boxes
    assert not moving_box.missing and moving_box.velocity[0] > 0
    tracker.update([], T0 + 0.6)
    (coasting,) = tracker.hint_at(3, T0 + 0.6).boxes
    assert coasting.missing and coasting.velocity == (0.0, 0.0)
    decoded = Hint.decode(tracker.hint_at(3, T0 + 0.6).encode())
    assert decoded is not None and decoded.boxes[0].missing


def test_the_pipeline_falls_back_to_the_whole_frame_on_a_miss(
    moving: MotionSequence, frame_pipeline: FramePipeline
) -> None:
    image, _ = moving.frame_at(2.0)
    jpeg = encode_jpeg(image, 90)
    frame = Frame("cam", 3, T0, jpeg, image.shape[1], image.shape[0])
    whole = frame_pipeline.process_many([frame], [0.0])[0]
    guided_pipeline = FramePipeline(
        frame_pipeline.detector,
        frame_pipeline.classifier,
        frame_pipeline.settings,
        "guided",
        guidance=GuidancePolicy(full_every=10),
    )
    wrong = hinted(2, (0, 0, 50, 50))  # a hint pointing at an empty corner
    fallback = guided_pipeline.process_many([frame], [0.0], {"cam": wrong})[0]
    assert not isinstance(whole, Exception) and not isinstance(fallback, Exception)
    assert [f.box for f in fallback.faces] == [f.box for f in whole.faces]


def test_the_policy_searches_whole_frames_regularly_and_without_a_fresh_hint() -> None:
    policy = GuidancePolicy(full_every=10, max_hint_age=5)
    hint = hinted(100, (10, 10, 50, 50))
    assert not should_search_whole(103, hint, policy)
    assert should_search_whole(110, hint, policy)  # every tenth frame
    assert should_search_whole(107, hint, policy)  # the hint is too old
    assert should_search_whole(99, hint, policy)  # a hint from the future is no hint
    assert should_search_whole(103, None, policy)
    assert should_search_whole(103, hinted(100), policy)


def test_a_region_grows_around_the_box_and_stays_in_the_frame() -> None:
    assert region_around((100, 100, 50, 50), 640, 480) == (80, 80, 90, 90)
    assert region_around((0, 0, 50, 50), 60, 60) == (0, 0, 60, 60)


def test_hints_go_through_redis_and_garbage_is_ignored(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    prefix = settings.key_prefix
    pipe = redis_conn.pipeline()
    good = Hint(7, T0, (HintedBox((1, 2, 30, 40), (12.5, -3.0)),))
    write_hint(pipe, prefix, "good", good, ttl_ms=5000)
    pipe.execute()
    assert 0 < redis_conn.pttl(track_hints(prefix, "good")) <= 5000
    redis_conn.set(track_hints(prefix, "junk"), b"\xc1 not msgpack")
    redis_conn.set(track_hints(prefix, "list"), msgpack.packb([1, 2, 3]))
    redis_conn.set(track_hints(prefix, "negative"), hinted(1, (-5, 0, 10, 10)).encode())
    fast = Hint(1, T0, (HintedBox((5, 5, 10, 10), (float("inf"), 0.0)),))
    redis_conn.set(track_hints(prefix, "fast"), fast.encode())
    too_many = hinted(1, *[(0, 0, 10, 10)] * (MAX_HINT_BOXES + 1)).encode()
    redis_conn.set(track_hints(prefix, "many"), too_many)
    cameras = ["good", "junk", "list", "negative", "fast", "many", "none"]
    assert read_hints(redis_conn, prefix, cameras) == {"good": good}
    pipe = redis_conn.pipeline()
    write_hint(pipe, prefix, "good", hinted(8), ttl_ms=5000)  # no tracks: no hint
    pipe.execute()
    assert read_hints(redis_conn, prefix, ["good"]) == {}
