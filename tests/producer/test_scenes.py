from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import SourceError
from common.settings import Settings
from common.wire import EMOTIONS
from producer.scenes import FACE_SIDE_RANGE, SceneGenerator, index_faces

Box = tuple[int, int, int, int]


@pytest.fixture(scope="module")
def fer_dir() -> Path:
    data_dir = Settings.from_env().data_dir
    if not (data_dir / "test").is_dir():
        pytest.skip(f"FER2013 not found at {data_dir} (set FERSTREAM_DATA_DIR)")
    return data_dir


def _write_face(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((48, 48), 128, np.uint8))


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_index_labels_follow_the_emotion_order(tmp_path: Path) -> None:
    _write_face(tmp_path / "test" / "surprise" / "b.jpg")
    _write_face(tmp_path / "test" / "angry" / "a.jpg")
    (tmp_path / "test" / "angry" / "notes.txt").write_text("not a face")
    faces = index_faces(tmp_path, "test")
    assert [(f.path.name, f.label) for f in faces] == [("a.jpg", 0), ("b.jpg", 6)]


@pytest.mark.parametrize(
    ("layout", "split", "message"),
    [
        ([], "test", "no such folder"),
        (["test/angry/"], "test", "got none"),
        (["test/angry/a.jpg", "test/cats/c.jpg"], "test", "unknown ['cats']"),
        (["test/angry/a.jpg"], "validation", "expected one of train, test"),
    ],
)
def test_index_rejects_bad_trees(
    tmp_path: Path, layout: list[str], split: str, message: str
) -> None:
    for entry in layout:
        if entry.endswith("/"):
            (tmp_path / entry).mkdir(parents=True)
        else:
            _write_face(tmp_path / entry)
    with pytest.raises(SourceError, match=message.replace("[", r"\[")):
        SceneGenerator(tmp_path, split=split)


def test_too_small_a_frame_is_refused(tmp_path: Path) -> None:
    _write_face(tmp_path / "test" / "happy" / "a.jpg")
    with pytest.raises(ValueError, match="expected width and height >="):
        SceneGenerator(tmp_path, size=(60, 40))


def test_same_seed_same_scenes(fer_dir: Path) -> None:
    first, second = SceneGenerator(fer_dir, seed=7), SceneGenerator(fer_dir, seed=7)
    other = SceneGenerator(fer_dir, seed=8)
    for _ in range(3):
        (image_a, truth_a), (image_b, truth_b) = first.next_scene(), second.next_scene()
        assert np.array_equal(image_a, image_b)
        assert truth_a == truth_b
    assert not np.array_equal(first.next_scene()[0], other.next_scene()[0])


def test_scenes_hold_one_to_three_labelled_faces_inside_the_frame(fer_dir: Path) -> None:
    generator = SceneGenerator(fer_dir, seed=1)
    counts = set()
    for _ in range(40):
        image, truth = generator.next_scene()
        assert image.shape == (480, 640, 3)
        assert image.dtype == np.uint8
        assert 1 <= len(truth) <= 3
        counts.add(len(truth))
        boxes = [tuple(face["box"]) for face in truth]
        for face, (x, y, w, h) in zip(truth, boxes, strict=True):
            assert face["label"] in range(len(EMOTIONS))
            assert w == h
            assert FACE_SIDE_RANGE[0] <= w <= FACE_SIDE_RANGE[1]
            assert 0 <= x <= 640 - w
            assert 0 <= y <= 480 - h
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert _iou(a, b) == 0.0
    assert counts == {1, 2, 3}


def test_pasted_face_is_the_dataset_face(fer_dir: Path) -> None:
    generator = SceneGenerator(fer_dir, seed=3, faces_per_frame=(1, 1))
    image, truth = generator.next_scene()
    x, y, w, h = truth[0]["box"]
    crop = cv2.cvtColor(image[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
    matches = 0
    for face in generator.faces:
        if face.label != truth[0]["label"]:
            continue
        original = cv2.imread(str(face.path), cv2.IMREAD_GRAYSCALE)
        assert original is not None
        scaled = cv2.resize(original, (w, h), interpolation=cv2.INTER_CUBIC)
        inner = (slice(4, h - 4), slice(4, w - 4))
        if np.abs(crop[inner].astype(int) - scaled[inner].astype(int)).mean() < 6:
            matches += 1
    assert matches >= 1


def test_haar_finds_most_faces(fer_dir: Path) -> None:
    """The worker's detector, with the worker's parameters, finds >= 70% of the faces."""
    cascade_dir = cv2.data.haarcascades  # type: ignore[attr-defined]  # missing from the stubs
    cascade = cv2.CascadeClassifier(cascade_dir + "haarcascade_frontalface_default.xml")
    generator = SceneGenerator(fer_dir, seed=0)
    found = total = 0
    for _ in range(50):
        image, truth = generator.next_scene()
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        detections = cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40)
        )
        for face in truth:
            total += 1
            truth_box = (face["box"][0], face["box"][1], face["box"][2], face["box"][3])
            found += any(_iou((x, y, w, h), truth_box) >= 0.3 for x, y, w, h in detections)
    assert total >= 50
    assert found / total >= 0.7, f"Haar recall {found}/{total} = {found / total:.2f}"


def test_small_frames_get_smaller_faces_that_still_fit(tmp_path: Path) -> None:
    _write_face(tmp_path / "test" / "fear" / "a.jpg")
    generator = SceneGenerator(tmp_path, size=(160, 120), faces_per_frame=(3, 3))
    for _ in range(10):
        image, truth = generator.next_scene()
        assert image.shape == (120, 160, 3)
        assert 1 <= len(truth) <= 3
        for face in truth:
            x, y, w, h = face["box"]
            assert face["label"] == 2
            assert 0 <= x <= 160 - w
            assert 0 <= y <= 120 - h
