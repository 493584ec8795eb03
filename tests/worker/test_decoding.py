"""Frame images to gray pixels, and every way an image can be refused before decoding."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from common.errors import InvalidFrame
from tests.worker import PNG_SIGNATURE, encode, patch_jpeg_size, textured_image
from worker.decoding import check_limits, decode_gray, image_size

MAX_BYTES = 1_000_000
MAX_PIXELS = 1_000_000

IMAGE = textured_image(96, 64)
JPEG = encode(IMAGE, ".jpg")
PNG = encode(IMAGE, ".png")
COLOUR_JPEG = encode(np.dstack([IMAGE, IMAGE // 2, 255 - IMAGE]), ".jpg")
GARBAGE = np.random.default_rng(5).integers(0, 256, 3000, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("data", "encoding"),
    [(JPEG, "jpeg"), (PNG, "png"), (COLOUR_JPEG, "jpeg")],
    ids=["jpeg", "png", "colour jpeg"],
)
def test_valid_images_decode_to_gray_of_the_header_size(data: bytes, encoding: str) -> None:
    gray = decode_gray(data, encoding, MAX_BYTES, MAX_PIXELS)

    assert image_size(data, encoding) == (96, 64)
    assert gray.shape == (64, 96)
    assert gray.dtype == np.uint8


def test_png_decodes_to_exactly_the_pixels_sent() -> None:
    np.testing.assert_array_equal(decode_gray(PNG, "png", MAX_BYTES, MAX_PIXELS), IMAGE)


@pytest.mark.parametrize(
    ("data", "encoding", "reason", "says"),
    [
        (b"", "jpeg", "empty", ["expected image bytes", "got an empty image"]),
        (JPEG + bytes(MAX_BYTES), "jpeg", "too_large", [f"at most {MAX_BYTES}", "got"]),
        (
            patch_jpeg_size(JPEG, 10000, 10000),
            "jpeg",
            "too_large",
            [f"at most {MAX_PIXELS} pixels", "got 10000x10000"],
        ),
        (
            PNG[:16] + struct.pack(">II", 10000, 10000) + PNG[24:],
            "png",
            "too_large",
            [f"at most {MAX_PIXELS} pixels", "got 10000x10000"],
        ),
        (patch_jpeg_size(JPEG, 0, 0), "jpeg", "empty", ["positive image size", "got 0x0"]),
        (
            JPEG[: len(JPEG) // 2],
            "jpeg",
            "truncated",
            ["expected the JPEG end marker", "truncated"],
        ),
        (JPEG[:6], "jpeg", "truncated", ["expected a JPEG frame header"]),
        (PNG[: len(PNG) // 2], "png", "truncated", ["expected the PNG end marker", "truncated"]),
        (GARBAGE, "jpeg", "decode", ["expected JPEG bytes starting FF D8", "got"]),
        (PNG_SIGNATURE + GARBAGE, "png", "decode", ["expected a PNG signature and IHDR", "got"]),
        (PNG[:33] + GARBAGE + PNG[-12:], "png", "decode", ["expected a decodable PNG"]),
        (PNG, "jpeg", "decode", ["expected JPEG bytes starting FF D8", "got 89 50 4e 47"]),
        (JPEG, "png", "decode", ["expected a PNG signature", "got b'\\xff\\xd8"]),
        (JPEG, "webp", "decode", ["expected encoding 'jpeg' or 'png'", "got 'webp'"]),
    ],
    ids=[
        "empty bytes",
        "over max_bytes",
        "JPEG header over max_pixels",
        "PNG header over max_pixels",
        "header of 0x0",
        "JPEG cut in half",
        "JPEG cut before its header",
        "PNG cut in half",
        "garbage",
        "PNG signature then garbage",
        "PNG header, garbage body",
        "PNG bytes sent as jpeg",
        "JPEG bytes sent as png",
        "unknown encoding",
    ],
)
def test_bad_images_are_refused_with_a_reason_and_what_arrived(
    data: bytes, encoding: str, reason: str, says: list[str]
) -> None:
    with pytest.raises(InvalidFrame) as caught:
        decode_gray(data, encoding, MAX_BYTES, MAX_PIXELS)

    assert caught.value.reason == reason
    for fragment in says:
        assert fragment in str(caught.value)


def test_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    # 10000x10000 grey pixels would take 100 MB to decode; the refusal must not need them
    huge = patch_jpeg_size(JPEG, 10000, 10000)

    with pytest.raises(InvalidFrame) as caught:
        check_limits(huge, "jpeg", MAX_BYTES, MAX_PIXELS)

    assert caught.value.reason == "too_large"
    assert image_size(huge, "jpeg") == (10000, 10000)


def test_limits_are_inclusive() -> None:
    assert check_limits(JPEG, "jpeg", len(JPEG), 96 * 64) == (96, 64)
    with pytest.raises(InvalidFrame, match=f"at most {len(JPEG) - 1} image bytes"):
        check_limits(JPEG, "jpeg", len(JPEG) - 1, 96 * 64)
    with pytest.raises(InvalidFrame, match="at most 6143 pixels"):
        check_limits(JPEG, "jpeg", len(JPEG), 96 * 64 - 1)


@pytest.mark.parametrize(
    ("data", "encoding", "declared", "header"),
    [
        (JPEG, "jpeg", (640, 480), "96x64"),
        (PNG, "png", (64, 96), "96x64"),
        (patch_jpeg_size(JPEG, 960, 640), "jpeg", (96, 64), "960x640"),
    ],
    ids=["JPEG smaller than declared", "PNG turned", "JPEG header over its pixels"],
)
def test_a_header_that_disagrees_with_the_declared_size_is_refused(
    data: bytes, encoding: str, declared: tuple[int, int], header: str
) -> None:
    """Found by tests/fuzz: face boxes are pixels of the frame as declared, so a frame
    whose image is another size would get boxes outside it."""
    with pytest.raises(InvalidFrame) as caught:
        decode_gray(data, encoding, MAX_BYTES, MAX_PIXELS, declared=declared)

    assert caught.value.reason == "decode"
    width, height = declared
    assert f"expected the {width}x{height} pixels the frame declares" in str(caught.value)
    assert f"header says {header}" in str(caught.value)


def test_the_declared_size_of_a_matching_frame_is_accepted() -> None:
    assert decode_gray(JPEG, "jpeg", MAX_BYTES, MAX_PIXELS, declared=(96, 64)).shape == (64, 96)
