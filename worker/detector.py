"""Face detection behind a small protocol; the real one is OpenCV's Haar cascade."""

from __future__ import annotations

import os
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from common.errors import ModelError
from common.settings import Settings

BoxTuple = tuple[int, int, int, int]


class FaceDetector(Protocol):
    def detect(self, gray: npt.NDArray[np.uint8]) -> list[BoxTuple]:
        """Face boxes (x, y, w, h) in the pixels of ``gray``."""
        ...

    def detect_in(
        self,
        gray: npt.NDArray[np.uint8],
        min_side: int,
        max_side: int | None = None,
        downscale: float | None = None,
    ) -> list[BoxTuple]:
        """Face boxes of ``min_side`` (at least the detector's own minimum) to
        ``max_side`` pixels (``None``: no limit), searched at ``downscale`` (``None``: the
        detector's own)."""
        ...


class HaarFaceDetector:
    """An OpenCV Haar cascade (``detect_cascade``), optionally run on a downscaled frame."""

    def __init__(
        self,
        cascade_file: str,
        scale_factor: float,
        min_neighbors: int,
        min_face_size: int,
        downscale: float = 1.0,
    ) -> None:
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]
        path = cascade_file if os.path.isabs(cascade_file) else folder + cascade_file
        try:
            self._cascade = cv2.CascadeClassifier(path)
        except (cv2.error, SystemError) as exc:  # a file OpenCV cannot parse raises, wrapped
            reason = exc.__cause__ or exc
            raise ModelError(
                f"expected a Haar cascade at {path}, OpenCV could not parse it: {reason}"
            ) from exc
        if self._cascade.empty():
            raise ModelError(f"expected a Haar cascade at {path}, OpenCV could not load it")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_size = min_face_size
        self.downscale = downscale

    @classmethod
    def from_settings(cls, settings: Settings) -> HaarFaceDetector:
        return cls(
            settings.detect_cascade,
            settings.detect_scale_factor,
            settings.detect_min_neighbors,
            settings.detect_min_face_size,
            settings.detect_downscale,
        )

    def detect(self, gray: npt.NDArray[np.uint8]) -> list[BoxTuple]:
        return self.detect_in(gray, self.min_face_size)

    def detect_in(
        self,
        gray: npt.NDArray[np.uint8],
        min_side: int,
        max_side: int | None = None,
        downscale: float | None = None,
    ) -> list[BoxTuple]:
        scale = self.downscale if downscale is None else downscale
        image = gray
        if scale < 1.0:
            size = (
                max(1, round(gray.shape[1] * scale)),
                max(1, round(gray.shape[0] * scale)),
            )
            image = np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        smallest = max(8, round(max(min_side, self.min_face_size) * scale))
        largest = round(max_side * scale) if max_side else 0
        if largest and largest < smallest:
            return []
        found = self._cascade.detectMultiScale(
            image,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(smallest, smallest),
            maxSize=(largest, largest),
        )
        inverse = 1.0 / scale
        return [
            (round(x * inverse), round(y * inverse), round(w * inverse), round(h * inverse))
            for (x, y, w, h) in np.asarray(found).reshape(-1, 4).tolist()
        ]
