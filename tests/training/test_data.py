"""FER2013 loaders (CSV and class folders) and the stratified validation split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import DatasetError
from common.wire import EMOTIONS
from tests.training import copy_tree, fer_data_dir, fer_files
from training.data import FaceDataset, load_csv, load_dataset, load_folder, stratified_split

# fer2013.csv's own numbering: 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral.
CSV_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HEADER = "emotion,pixels,Usage\n"


def pixels(value: int, count: int = 48 * 48) -> str:
    return " ".join([str(value)] * count)


def write_csv(path: Path, rows: list[tuple[str, str, str]], header: str = HEADER) -> Path:
    path.write_text(header + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """One Training row per original label (pixels = 10 * label), plus test and private rows."""
    rows = [(str(label), pixels(10 * label), "Training") for label in range(7)]
    rows += [("4", pixels(200), "PublicTest"), ("6", pixels(210), "PrivateTest")]
    return write_csv(tmp_path / "fer2013.csv", rows)


def test_csv_labels_are_mapped_to_the_folder_order(csv_file: Path) -> None:
    dataset = load_dataset(csv_file, "train")
    assert dataset.images.shape == (7, 48, 48)
    assert dataset.images.dtype == np.uint8
    for original, name in enumerate(CSV_NAMES):
        row = int(np.flatnonzero(dataset.images[:, 0, 0] == 10 * original)[0])
        assert EMOTIONS[dataset.labels[row]] == name


@pytest.mark.parametrize(
    ("split", "value", "emotion"), [("test", 200, "sad"), ("private", 210, "neutral")]
)
def test_csv_split_selects_its_usage(csv_file: Path, split: str, value: int, emotion: str) -> None:
    dataset = load_dataset(csv_file, split)
    assert len(dataset) == 1
    assert int(dataset.images[0, 5, 5]) == value
    assert EMOTIONS[dataset.labels[0]] == emotion


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("3", pixels(1, 100), "Training")], HEADER, "expected 2304 pixels, got 100"),
        ([("3", pixels(300), "Training")], HEADER, "pixel values in 0..255"),
        ([("3", "1 2 x", "Training")], HEADER, "space-separated integers"),
        ([("7", pixels(1), "Training")], HEADER, "expected emotion 0..6, got '7'"),
        ([("happy", pixels(1), "Training")], HEADER, "expected emotion 0..6, got 'happy'"),
        ([("3", pixels(1), "PublicTest")], HEADER, "Usage='Training'"),
        ([("3", pixels(1), "Training")], "emotion,pixel,Usage\n", r"missing \['pixels'\]"),
    ],
)
def test_malformed_csv_is_refused_with_what_was_expected(
    tmp_path: Path, rows: list[tuple[str, str, str]], header: str, message: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(DatasetError, match=message):
        load_csv(path, "Training")


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    rows = [("3", pixels(1), "Training"), ("9", pixels(1), "Training")]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DatasetError, match=r"bad\.csv:3:"):
        load_csv(path, "Training")


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.csv", "expected a fer2013.csv file, got missing path"), ("missing", "missing path")],
)
def test_missing_data_is_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path / name, "train")


def test_csv_split_name_is_checked(csv_file: Path) -> None:
    with pytest.raises(DatasetError, match="expected split in"):
        load_dataset(csv_file, "validation")


def test_class_folders_load_real_faces_with_their_labels(tmp_path: Path) -> None:
    root = copy_tree(tmp_path / "fer" / "train", per_class=3)
    (root / "happy" / "notes.txt").write_text("not an image")
    dataset = load_dataset(tmp_path / "fer", "train")
    assert len(dataset) == 21
    assert dataset.class_counts().tolist() == [3] * 7
    first_angry = fer_files("train", "angry", 1)[0]
    expected = cv2.imread(str(first_angry), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(dataset.images[0], expected)
    assert dataset.labels[0] == EMOTIONS.index("angry")


def test_a_folder_without_a_split_subfolder_is_the_split(tmp_path: Path) -> None:
    root = copy_tree(tmp_path / "faces", per_class=1)
    assert len(load_dataset(root, "test")) == 7


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "contempt").mkdir(), r"unknown \['contempt'\]"),
        (lambda root: (root / "fear" / "broken.jpg").write_bytes(b"no jpeg"), "unreadable file"),
    ],
)
def test_bad_class_folders_are_refused(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    root = copy_tree(tmp_path / "train", per_class=1)
    make(root)
    with pytest.raises(DatasetError, match=message):
        load_folder(root)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="found none"):
        load_folder(tmp_path)


def test_class_folders_without_images_are_refused(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    with pytest.raises(DatasetError, match="expected images under"):
        load_folder(tmp_path)


def test_the_public_test_split_has_the_documented_counts() -> None:
    dataset = load_dataset(fer_data_dir(), "test")
    assert dataset.class_counts().tolist() == [467, 56, 496, 895, 607, 653, 415]


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 48, 47), np.uint8), np.zeros(2, np.int64), r"got \(2, 48, 47\)"),
        (np.zeros((2, 48, 48), np.float32), np.zeros(2, np.int64), "got float32"),
        (np.zeros((2, 48, 48), np.uint8), np.zeros(3, np.int64), "expected 2 labels"),
        (np.zeros((2, 48, 48), np.uint8), np.array([0, 7]), r"labels in 0\.\.6"),
    ],
)
def test_face_dataset_validates_itself(
    images: np.ndarray, labels: np.ndarray, message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        FaceDataset(images, labels)


COUNTS = (40, 5, 41, 72, 50, 48, 31)


@pytest.fixture
def numbered() -> FaceDataset:
    """Faces whose first two pixels spell their index, so a split can be traced back."""
    labels = np.repeat(np.arange(7), COUNTS)
    np.random.default_rng(0).shuffle(labels)
    images = np.zeros((len(labels), 48, 48), dtype=np.uint8)
    images[:, 0, 0] = np.arange(len(labels)) // 256
    images[:, 0, 1] = np.arange(len(labels)) % 256
    return FaceDataset(images, labels.astype(np.int64))


def ids(dataset: FaceDataset) -> set[int]:
    return set((dataset.images[:, 0, 0].astype(int) * 256 + dataset.images[:, 0, 1]).tolist())


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_stratified_split_holds_out_the_fraction_of_every_class(
    numbered: FaceDataset, fraction: float
) -> None:
    train, val = stratified_split(numbered, fraction, seed=1234)
    assert val.class_counts().tolist() == [round(c * fraction) for c in COUNTS]
    assert (train.class_counts() + val.class_counts()).tolist() == list(COUNTS)
    assert ids(train).isdisjoint(ids(val))
    assert ids(train) | ids(val) == set(range(len(numbered)))


def test_stratified_split_is_reproducible_from_its_seed(numbered: FaceDataset) -> None:
    first = stratified_split(numbered, 0.1, seed=1234)[1]
    again = stratified_split(numbered, 0.1, seed=1234)[1]
    other = stratified_split(numbered, 0.1, seed=99)[1]
    assert ids(first) == ids(again)
    assert ids(first) != ids(other)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_stratified_split_refuses_impossible_fractions(
    numbered: FaceDataset, fraction: float
) -> None:
    with pytest.raises(DatasetError, match=r"fraction in \(0, 1\)"):
        stratified_split(numbered, fraction, seed=1)
