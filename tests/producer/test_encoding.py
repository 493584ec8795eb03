from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from producer.encoding import encode_frame, fit_within, scale_boxes


@pytest.mark.parametrize(
    ("shape", "max_side", "expected"),
    [
        ((480, 640, 3), 320, (240, 320)),
        ((480, 640, 3), 1280, (480, 640)),
        ((480, 640, 3), 640, (480, 640)),
        ((1080, 1920, 3), 1280, (720, 1280)),
        ((640, 480, 3), 320, (320, 240)),
        ((100, 50), 40, (40, 20)),
        ((2, 1000, 3), 100, (1, 100)),
    ],
)
def test_encode_frame_shrinks_keeping_the_aspect(
    shape: tuple[int, ...], max_side: int, expected: tuple[int, int]
) -> None:
    image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    data, width, height = encode_frame(image, jpeg_quality=90, max_side=max_side)
    assert (height, width) == expected
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    assert decoded.shape[:2] == expected
    assert data[:2] == b"\xff\xd8"  # a JPEG


def test_quality_trades_size() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    small, _, _ = encode_frame(image, jpeg_quality=20, max_side=320)
    large, _, _ = encode_frame(image, jpeg_quality=95, max_side=320)
    assert len(small) < len(large)


def test_fit_within_reports_the_factor() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    assert fit_within(image, 320)[1] == pytest.approx(0.5)
    same, factor = fit_within(image, 2000)
    assert same is image
    assert factor == 1.0


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), {"jpeg_quality": 0, "max_side": 8}, "jpeg_quality"),
        (np.zeros((4, 4, 3), np.uint8), {"jpeg_quality": 101, "max_side": 8}, "jpeg_quality"),
        (np.zeros((4, 4, 3), np.uint8), {"jpeg_quality": 80, "max_side": 0}, "max_side"),
        (np.zeros((4, 4, 3), np.float32), {"jpeg_quality": 80, "max_side": 8}, "float32"),
        (np.zeros((4, 4, 4), np.uint8), {"jpeg_quality": 80, "max_side": 8}, r"\(4, 4, 4\)"),
        (np.zeros((0, 4, 3), np.uint8), {"jpeg_quality": 80, "max_side": 8}, "non-empty"),
    ],
)
def test_bad_arguments_say_what_was_expected(
    image: np.ndarray[Any, Any], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match="expected") as raised:
        encode_frame(image, **kwargs)
    assert raised.match(message)


def test_scale_boxes_follows_the_image() -> None:
    metadata: dict[str, Any] = {
        "faces": [{"box": [100, 50, 120, 120], "label": 3}, {"box": [1, 1, 1, 1], "label": 0}],
        "file": "a.jpg",
    }
    scaled = scale_boxes(metadata, 0.5)
    assert scaled == {
        "faces": [{"box": [50, 25, 60, 60], "label": 3}, {"box": [0, 0, 1, 1], "label": 0}],
        "file": "a.jpg",
    }
    assert metadata["faces"][0]["box"] == [100, 50, 120, 120]  # the original is untouched


@pytest.mark.parametrize("metadata", [{}, {"file": "a.jpg"}, {"faces": "not a list"}])
def test_scale_boxes_leaves_other_metadata_alone(metadata: dict[str, Any]) -> None:
    assert scale_boxes(metadata, 0.5) == metadata
