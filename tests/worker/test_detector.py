"""The Haar detector on synthetic scenes of real FER faces, whose true boxes are known."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.defaults import DEFAULT_CASCADE_FILE, DEFAULT_DETECT_DOWNSCALE
from common.errors import ModelError
from common.settings import Settings
from ferstream.scoring import iou, match_faces
from producer.scenes import SceneGenerator
from worker.detector import HaarFaceDetector

SCENES = 20
MIN_RECALL = 0.6

Scene = tuple[np.ndarray, list[list[int]]]


@pytest.fixture(scope="module")
def scenes(fer_data_dir: Path) -> list[Scene]:
    """Twenty gray 640x480 scenes with 1-3 faces each, and their true boxes."""
    generator = SceneGenerator(fer_data_dir, seed=0)
    out = []
    for _ in range(SCENES):
        image, faces = generator.next_scene()
        out.append((cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), [f["box"] for f in faces]))
    return out


def detector(downscale: float = DEFAULT_DETECT_DOWNSCALE) -> HaarFaceDetector:
    """The production detector settings, at ``downscale``."""
    return HaarFaceDetector.from_settings(Settings(detect_downscale=downscale))


def recall(found: list[list[tuple[int, int, int, int]]], scenes: list[Scene]) -> float:
    true_faces = sum(len(truth) for _, truth in scenes)
    matched = sum(
        len(match_faces([(list(box), 0) for box in boxes], [{"box": t, "label": 0} for t in truth]))
        for boxes, (_, truth) in zip(found, scenes, strict=True)
    )
    return matched / true_faces


def test_finds_most_faces_of_synthetic_scenes(scenes: list[Scene]) -> None:
    haar = detector()
    found = [haar.detect(gray) for gray, _ in scenes]

    assert recall(found, scenes) >= MIN_RECALL
    false_alarms = sum(len(boxes) for boxes in found) - sum(len(t) for _, t in scenes)
    assert false_alarms <= SCENES // 4  # a few extra boxes at most, not one per frame


@pytest.mark.parametrize(
    "frame",
    [
        np.full((480, 640), 128, np.uint8),
        np.zeros((480, 640), np.uint8),
        np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8),
    ],
    ids=["flat gray", "black", "noise"],
)
def test_finds_no_face_where_there_is_none(frame: np.ndarray) -> None:
    assert detector(1.0).detect(frame) == []
    assert detector(0.5).detect(frame) == []


def test_downscaled_detection_reports_full_frame_boxes(scenes: list[Scene]) -> None:
    full, half = detector(1.0), detector(0.5)
    pairs = []
    found_half = []
    for gray, _ in scenes:
        reference, boxes = full.detect(gray), half.detect(gray)
        found_half.append(boxes)
        for x, y, w, h in boxes:
            assert x >= 0 and y >= 0 and x + w <= gray.shape[1] and y + h <= gray.shape[0]
            pairs.append(max((iou((x, y, w, h), r) for r in reference), default=0.0))

    assert pairs, "the half-size detector found nothing at all"
    # boxes left in half-size pixels would overlap the full-size ones by ~25% at best
    assert np.median(pairs) >= 0.7
    assert recall(found_half, scenes) >= MIN_RECALL


def test_boxes_are_plain_int_tuples(scenes: list[Scene]) -> None:
    boxes = detector().detect(scenes[0][0])

    assert boxes
    assert all(isinstance(box, tuple) and len(box) == 4 for box in boxes)
    assert all(type(v) is int for box in boxes for v in box)


def test_a_cascade_can_be_named_by_absolute_path(scenes: list[Scene], tmp_path: Path) -> None:
    copy = tmp_path / "my-cascade.xml"
    copy.write_bytes((Path(cv2.data.haarcascades) / DEFAULT_CASCADE_FILE).read_bytes())  # type: ignore[attr-defined]
    by_path = HaarFaceDetector.from_settings(Settings(detect_cascade=str(copy)))

    # the same boxes; their order may differ when OpenCV runs on several threads
    assert sorted(by_path.detect(scenes[0][0])) == sorted(detector().detect(scenes[0][0]))


@pytest.mark.parametrize(
    "content",
    [None, b"", b"not a cascade", b'<?xml version="1.0"?><opencv_storage></opencv_storage>'],
    ids=["missing", "empty", "not XML", "XML without a cascade"],
)
def test_an_unusable_cascade_file_is_a_model_error(content: bytes | None, tmp_path: Path) -> None:
    cascade = tmp_path / "cascade.xml"
    if content is not None:
        cascade.write_bytes(content)
    # the detector names its file relative to OpenCV's cascade folder
    name = os.path.relpath(cascade, cv2.data.haarcascades)  # type: ignore[attr-defined]

    with pytest.raises(ModelError, match=r"expected a Haar cascade at .*cascade\.xml"):
        HaarFaceDetector(name, 1.1, 5, 40)
