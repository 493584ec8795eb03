"""The one face preprocessing that training and serving share.

The model's input is a 48x48 single-channel face with pixel values 0..255 (float32),
as in FER2013. Scaling to the backbone's resolution and to [-1, 1] happens inside the
model, so a face prepared here is exactly what the model saw in training.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from common.defaults import DEFAULT_MODEL_FACE_SIZE

FACE_SIZE = DEFAULT_MODEL_FACE_SIZE

UInt8Image = npt.NDArray[np.uint8]
FloatBatch = npt.NDArray[np.float32]


def to_gray(image: UInt8Image) -> UInt8Image:
    """Grayscale view of a BGR, BGRA or already-gray uint8 image."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)
    raise ValueError(f"expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8, got {image.shape}")


def expand_box(
    box: tuple[int, int, int, int], margin: float, frame_shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """A square box around ``box`` grown by ``margin`` of its side, clipped to the frame."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    height, width = frame_shape[:2]
    x0 = max(0, round(cx - side / 2.0))
    y0 = max(0, round(cy - side / 2.0))
    x1 = min(width, round(cx + side / 2.0))
    y1 = min(height, round(cy + side / 2.0))
    return x0, y0, x1 - x0, y1 - y0


def normalize_face(gray_face: UInt8Image) -> UInt8Image:
    """Resize a grayscale face crop to the model's 48x48."""
    if gray_face.size == 0:
        raise ValueError("expected a non-empty face crop, got an empty array")
    if gray_face.shape[:2] == (FACE_SIZE, FACE_SIZE):
        return gray_face
    interpolation = cv2.INTER_AREA if gray_face.shape[0] > FACE_SIZE else cv2.INTER_LINEAR
    resized = cv2.resize(gray_face, (FACE_SIZE, FACE_SIZE), interpolation=interpolation)
    return np.asarray(resized, dtype=np.uint8)


def crop_faces(
    gray_frame: UInt8Image, boxes: list[tuple[int, int, int, int]], margin: float
) -> UInt8Image:
    """Every face of a frame as an (N, 48, 48) uint8 stack, ready for :func:`to_model_batch`."""
    crops = np.empty((len(boxes), FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    for index, box in enumerate(boxes):
        x, y, w, h = expand_box(box, margin, gray_frame.shape)
        crops[index] = normalize_face(gray_frame[y : y + h, x : x + w])
    return crops


def to_model_batch(faces: UInt8Image) -> FloatBatch:
    """(N, 48, 48) uint8 faces as the model's (N, 48, 48, 1) float32 input."""
    if faces.ndim != 3 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE):
        raise ValueError(f"expected (N, {FACE_SIZE}, {FACE_SIZE}) faces, got {faces.shape}")
    return faces.astype(np.float32)[..., np.newaxis]
