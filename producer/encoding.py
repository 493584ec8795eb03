"""Turning a captured image into the JPEG bytes a ``Frame`` carries."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

UInt8Image = npt.NDArray[np.uint8]


def _check_image(image: UInt8Image) -> None:
    shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))
    if not shape_ok or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(
            f"expected a non-empty (H, W, 3) or (H, W) uint8 image, got {image.shape} {image.dtype}"
        )


def fit_within(image: UInt8Image, max_side: int) -> tuple[UInt8Image, float]:
    """``image`` shrunk (never enlarged) so its longer side is at most ``max_side``.

    Returns the image and the factor applied to its coordinates (1.0 when unchanged).
    """
    if max_side < 1:
        raise ValueError(f"max_side: expected an int >= 1, got {max_side!r}")
    _check_image(image)
    height, width = image.shape[:2]
    longer = max(height, width)
    if longer <= max_side:
        return image, 1.0
    factor = max_side / longer
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.asarray(resized, dtype=np.uint8), factor


def encode_jpeg(image: UInt8Image, jpeg_quality: int) -> bytes:
    """JPEG bytes of a BGR or gray ``image``."""
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality: expected an int in 1..100, got {jpeg_quality!r}")
    _check_image(image)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise ValueError(f"expected an image OpenCV can JPEG-encode, got {image.shape}")
    return encoded.tobytes()


def encode_frame(image: UInt8Image, *, jpeg_quality: int, max_side: int) -> tuple[bytes, int, int]:
    """JPEG bytes, width and height of ``image`` after shrinking it to ``max_side``."""
    fitted, _ = fit_within(image, max_side)
    height, width = fitted.shape[:2]
    return encode_jpeg(fitted, jpeg_quality), width, height


def scale_boxes(metadata: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of ``metadata`` whose ``faces[*].box`` pixel boxes are multiplied by ``factor``.

    Frame metadata keeps face truth as ``{"faces": [{"box": [x, y, w, h], ...}]}``; when the
    image is shrunk the boxes must follow it so they still point at the faces.
    """
    faces = metadata.get("faces")
    if factor == 1.0 or not isinstance(faces, list):
        return dict(metadata)
    scaled = []
    for face in faces:
        if isinstance(face, dict) and isinstance(face.get("box"), list | tuple):
            x, y, w, h = face["box"]
            face = {
                **face,
                "box": [
                    round(x * factor),
                    round(y * factor),
                    max(1, round(w * factor)),
                    max(1, round(h * factor)),
                ],
            }
        scaled.append(face)
    return {**metadata, "faces": scaled}
