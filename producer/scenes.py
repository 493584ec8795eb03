"""A labelled synthetic camera: FER2013 faces composed onto varied colour backgrounds.

Each scene holds 1-3 faces scaled to the sizes a webcam sees (90-200 px), placed without
overlap, and the truth (box and label) of every face. FER2013 crops are cut tight around
the face, which leaves the Haar cascade little of the context it was trained on; each
face is therefore pasted with a soft border grown from its own edge pixels (replicated,
then blurred and feathered into the background), so the detector sees a head rather
than a hard-edged tile. The truth box is exactly the pasted face; nothing outside the
dataset's own pixels is drawn over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from common.errors import SourceError
from common.wire import EMOTIONS

UInt8Image = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]

SPLITS = ("train", "test")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
FACE_SIDE_RANGE = (90, 200)  # pixels; what a webcam at 1-2 m sees at 640x480
MIN_FACE_SIDE = 48  # never smaller than the dataset's own faces
CONTEXT_PAD = 0.3  # soft border around each face, as a fraction of its side
CONTEXT_BLUR = 0.05  # blur of that border (Gaussian sigma), as a fraction of the side
FACE_GAP = 8  # pixels kept free between two faces' borders
PLACEMENT_ATTEMPTS = 40
SHRINK_FACTOR = 0.8  # a face that does not fit anywhere is tried again this much smaller
SENSOR_NOISE_SIGMA = (1.5, 5.0)  # grey levels, drawn per scene


@dataclass(frozen=True)
class FaceFile:
    """One labelled face image of the dataset."""

    path: Path
    label: int


def index_faces(data_dir: Path, split: str = "test") -> list[FaceFile]:
    """Every face of ``data_dir/split/<class>/``, sorted, labelled in ``EMOTIONS`` order."""
    if split not in SPLITS:
        raise SourceError(f"scene split: expected one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(data_dir) / split
    if not root.is_dir():
        raise SourceError(
            f"scene data: expected a folder of class folders at {root}, got no such folder"
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    unknown = [p.name for p in folders if p.name not in EMOTIONS]
    if unknown:
        raise SourceError(
            f"scene data {root}: expected class folders among {', '.join(EMOTIONS)}, "
            f"got unknown {unknown}"
        )
    faces = [
        FaceFile(path, EMOTIONS.index(folder.name))
        for folder in folders
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not faces:
        raise SourceError(f"scene data {root}: expected face images in class folders, got none")
    return faces


def render_background(rng: np.random.Generator, width: int, height: int) -> UInt8Image:
    """A colour gradient at a random angle under random shapes, slightly out of focus."""
    start, end = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    xs = np.arange(width, dtype=np.float32)[np.newaxis, :] * math.cos(angle)
    ys = np.arange(height, dtype=np.float32)[:, np.newaxis] * math.sin(angle)
    ramp = xs + ys
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    image = (start + (end - start) * ramp[..., np.newaxis]).astype(np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        _draw_shape(rng, image)
    blurred: UInt8Image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.8, 3.0)))
    return blurred


def add_sensor_noise(rng: np.random.Generator, image: UInt8Image, sigma: float) -> UInt8Image:
    """``image`` with Gaussian noise of ``sigma`` grey levels, as a cheap camera sensor adds."""
    noise = rng.standard_normal(size=image.shape, dtype=np.float32) * np.float32(sigma)
    return np.asarray(cv2.add(image, noise, dtype=cv2.CV_8U), dtype=np.uint8)  # saturating


def _draw_shape(rng: np.random.Generator, image: UInt8Image) -> None:
    height, width = image.shape[:2]
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    x0, x1 = (int(v) for v in rng.integers(0, width, size=2))
    y0, y1 = (int(v) for v in rng.integers(0, height, size=2))
    thickness = -1 if rng.random() < 0.6 else int(rng.integers(2, 12))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness)
    elif kind == 1:
        radius = int(rng.integers(10, max(11, min(width, height) // 4)))
        cv2.circle(image, (x0, y0), radius, colour, thickness)
    else:
        cv2.line(image, (x0, y0), (x1, y1), colour, max(2, abs(thickness)))


def face_with_context(face: UInt8Image, side: int) -> tuple[FloatImage, FloatImage, int]:
    """``face`` scaled to ``side`` inside a soft border grown from its edges.

    Returns the gray patch, its alpha (1 over the face, fading to 0 at the border's
    outer edge) and the border width in pixels.
    """
    scaled = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    pad = context_pad(side)
    grown = cv2.copyMakeBorder(scaled, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(grown, (0, 0), side * CONTEXT_BLUR)
    size = side + 2 * pad
    inner = np.zeros((size, size), np.float32)
    inner[pad : pad + side, pad : pad + side] = 1.0
    inner = np.asarray(cv2.GaussianBlur(inner, (0, 0), max(1.0, side / 40.0)), np.float32)
    keep = slice(pad + 2, pad + side - 2)
    inner[keep, keep] = 1.0  # the face itself stays as the dataset has it
    patch = inner * grown + (1.0 - inner) * blurred
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    to_edge = np.minimum(np.minimum(xs, size - 1 - xs), np.minimum(ys, size - 1 - ys))
    alpha = np.clip(to_edge / pad, 0.0, 1.0)
    return patch, alpha, pad


def paste_face(frame: UInt8Image, face: UInt8Image, x: int, y: int, side: int) -> None:
    """Blend ``face`` (gray, with its soft border) into ``frame`` with its top-left at x, y."""
    patch, alpha, pad = face_with_context(face, side)
    size = patch.shape[0]
    region = frame[y - pad : y - pad + size, x - pad : x - pad + size].astype(np.float32)
    weight = alpha[..., np.newaxis]
    blended = weight * patch[..., np.newaxis] + (1.0 - weight) * region
    frame[y - pad : y - pad + size, x - pad : x - pad + size] = np.clip(blended, 0, 255).astype(
        np.uint8
    )


def context_pad(side: int) -> int:
    """Width in pixels of the soft border around a face of ``side`` pixels."""
    return max(1, round(side * CONTEXT_PAD))


def _padded(x: int, y: int, side: int) -> tuple[int, int, int, int]:
    pad = context_pad(side)
    return x - pad, y - pad, x + side + pad, y + side + pad


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (
        a[2] + FACE_GAP <= b[0]
        or b[2] + FACE_GAP <= a[0]
        or a[3] + FACE_GAP <= b[1]
        or b[3] + FACE_GAP <= a[1]
    )


class SceneGenerator:
    """Endless labelled scenes: ``next_scene()`` gives a BGR frame and its faces' truth."""

    def __init__(
        self,
        data_dir: Path,
        split: str = "test",
        seed: int = 0,
        size: tuple[int, int] = (640, 480),
        faces_per_frame: tuple[int, int] = (1, 3),
    ) -> None:
        width, height = size
        self._largest = FACE_SIDE_RANGE[1]
        while self._largest + 2 * context_pad(self._largest) > min(width, height):
            self._largest -= 1
        if self._largest < MIN_FACE_SIDE:
            smallest = math.ceil(MIN_FACE_SIDE * (1 + 2 * CONTEXT_PAD))
            raise ValueError(
                f"scene size: expected width and height >= {smallest}, got {width}x{height}"
            )
        low, high = faces_per_frame
        if not 1 <= low <= high:
            raise ValueError(f"faces_per_frame: expected 1 <= low <= high, got {faces_per_frame}")
        self.size = (width, height)
        self.faces_per_frame = (low, high)
        self.faces = index_faces(data_dir, split)
        self._smallest = min(FACE_SIDE_RANGE[0], self._largest)
        self._rng = np.random.default_rng(seed)

    def next_scene(self) -> tuple[UInt8Image, list[dict[str, Any]]]:
        """A new frame and, per face, ``{"box": [x, y, w, h], "label": int}``."""
        width, height = self.size
        frame = render_background(self._rng, width, height)
        count = int(self._rng.integers(self.faces_per_frame[0], self.faces_per_frame[1] + 1))
        truth: list[dict[str, Any]] = []
        for x, y, side in self._place(count):
            face = self.faces[int(self._rng.integers(len(self.faces)))]
            paste_face(frame, self._load(face), x, y, side)
            truth.append({"box": [x, y, side, side], "label": face.label})
        sigma = float(self._rng.uniform(*SENSOR_NOISE_SIGMA))
        return add_sensor_noise(self._rng, frame, sigma), truth

    def _place(self, count: int) -> list[tuple[int, int, int]]:
        """Up to ``count`` non-overlapping (x, y, side) squares; always at least one."""
        placed: list[tuple[int, int, int]] = []
        for _ in range(count):
            side = int(self._rng.integers(self._smallest, self._largest + 1))
            while side >= self._smallest:
                spot = self._free_spot(side, placed)
                if spot is not None:
                    placed.append((*spot, side))
                    break
                side = int(side * SHRINK_FACTOR)
        return placed

    def _free_spot(self, side: int, placed: list[tuple[int, int, int]]) -> tuple[int, int] | None:
        width, height = self.size
        pad = context_pad(side)
        for _ in range(PLACEMENT_ATTEMPTS):
            x = int(self._rng.integers(pad, width - side - pad + 1))
            y = int(self._rng.integers(pad, height - side - pad + 1))
            box = _padded(x, y, side)
            if not any(_overlaps(box, _padded(*other)) for other in placed):
                return x, y
        return None

    @staticmethod
    def _load(face: FaceFile) -> UInt8Image:
        image = cv2.imread(str(face.path), cv2.IMREAD_GRAYSCALE)
        if image is None or image.size == 0:
            raise SourceError(f"scene face {face.path}: expected a readable image, got none")
        return np.asarray(image, dtype=np.uint8)
