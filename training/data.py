"""FER2013 loaders: the class-folder layout and the original ``fer2013.csv``.

Both return a :class:`FaceDataset` of 48x48 uint8 faces with labels in the project's
order (angry, disgust, fear, happy, neutral, sad, surprise).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from common.errors import DatasetError
from common.preprocessing import FACE_SIZE, normalize_face, to_gray
from common.wire import EMOTIONS

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
# fer2013.csv numbers 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral.
CSV_LABEL_TO_CLASS = {0: 0, 1: 1, 2: 2, 3: 3, 4: 5, 5: 6, 6: 4}
CSV_USAGE = {"train": "Training", "test": "PublicTest", "private": "PrivateTest"}


@dataclass(frozen=True)
class FaceDataset:
    """Faces (N, 48, 48) uint8 and labels (N,) int64 in 0..6."""

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.shape[1:] != (FACE_SIZE, FACE_SIZE):
            raise DatasetError(
                f"expected images of shape (N, {FACE_SIZE}, {FACE_SIZE}), got {self.images.shape}"
            )
        if self.images.dtype != np.uint8:
            raise DatasetError(f"expected uint8 images, got {self.images.dtype}")
        if self.labels.shape != (len(self.images),):
            raise DatasetError(f"expected {len(self.images)} labels, got shape {self.labels.shape}")
        if len(self.labels) and not (self.labels.min() >= 0 and self.labels.max() < len(EMOTIONS)):
            raise DatasetError(f"expected labels in 0..{len(EMOTIONS) - 1}")

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.labels, minlength=len(EMOTIONS)).astype(np.int64)

    def subset(self, indices: npt.NDArray[np.int64]) -> FaceDataset:
        return FaceDataset(self.images[indices], self.labels[indices])


def load_dataset(path: Path, split: str) -> FaceDataset:
    """Load ``split`` ("train", "test" or "private") from a class-folder tree or a fer2013.csv."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if split not in CSV_USAGE:
            raise DatasetError(f"expected split in {sorted(CSV_USAGE)}, got {split!r}")
        return load_csv(path, CSV_USAGE[split])
    split_dir = path / split if (path / split).is_dir() else path
    return load_folder(split_dir)


def load_folder(folder: Path) -> FaceDataset:
    """Faces from ``folder/<class>/*.jpg`` where every class folder is one of EMOTIONS."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"expected a folder of class folders, got missing path {folder}")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    unknown = [p.name for p in class_dirs if p.name not in EMOTIONS]
    if unknown:
        raise DatasetError(f"expected class folders among {list(EMOTIONS)}, got unknown {unknown}")
    if not class_dirs:
        raise DatasetError(f"expected class folders {list(EMOTIONS)} in {folder}, found none")
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    for class_dir in class_dirs:
        label = EMOTIONS.index(class_dir.name)
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            images.append(_read_face(file))
            labels.append(label)
    if not images:
        raise DatasetError(f"expected images under {folder}, found none")
    log.info("loaded %d faces from %s", len(images), folder)
    return FaceDataset(np.stack(images), np.asarray(labels, dtype=np.int64))


def _read_face(file: Path) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"expected a readable image, got unreadable file {file}")
    return normalize_face(to_gray(np.asarray(image, dtype=np.uint8)))


def load_csv(path: Path, usage: str) -> FaceDataset:
    """Faces from the original ``emotion,pixels,Usage`` CSV, labels mapped to the folder order."""
    if not Path(path).is_file():
        raise DatasetError(f"expected a fer2013.csv file, got missing path {path}")
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(
                f"expected CSV columns emotion,pixels,Usage; missing {sorted(missing)}"
            )
        for line, row in enumerate(reader, start=2):
            if row["Usage"] != usage:
                continue
            images.append(_parse_pixels(row["pixels"], path, line))
            labels.append(_parse_label(row["emotion"], path, line))
    if not images:
        raise DatasetError(f"expected rows with Usage={usage!r} in {path}, found none")
    return FaceDataset(np.stack(images), np.asarray(labels, dtype=np.int64))


def _parse_pixels(text: str, path: Path, line: int) -> npt.NDArray[np.uint8]:
    try:
        values = np.asarray([int(v) for v in text.split()], dtype=np.int64)
    except ValueError as exc:
        raise DatasetError(f"{path}:{line}: expected space-separated integers in pixels") from exc
    if values.size != FACE_SIZE * FACE_SIZE:
        raise DatasetError(
            f"{path}:{line}: expected {FACE_SIZE * FACE_SIZE} pixels, got {values.size}"
        )
    if values.min() < 0 or values.max() > 255:
        raise DatasetError(f"{path}:{line}: expected pixel values in 0..255")
    return values.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE)


def _parse_label(text: str, path: Path, line: int) -> int:
    try:
        return CSV_LABEL_TO_CLASS[int(text)]
    except (ValueError, KeyError) as exc:
        raise DatasetError(f"{path}:{line}: expected emotion 0..6, got {text!r}") from exc


def stratified_split(
    dataset: FaceDataset, fraction: float, seed: int
) -> tuple[FaceDataset, FaceDataset]:
    """Split off ``fraction`` of every class as a validation set, reproducibly."""
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"expected a validation fraction in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held_out: list[npt.NDArray[np.int64]] = []
    for label in range(len(EMOTIONS)):
        members = np.flatnonzero(dataset.labels == label)
        rng.shuffle(members)
        held_out.append(members[: round(len(members) * fraction)])
    val_idx = np.sort(np.concatenate(held_out)).astype(np.int64)
    train_mask = np.ones(len(dataset), dtype=bool)
    train_mask[val_idx] = False
    return dataset.subset(np.flatnonzero(train_mask).astype(np.int64)), dataset.subset(val_idx)
