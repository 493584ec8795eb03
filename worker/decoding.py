"""Frame image checks and decoding, with every limit checked before any pixel is decoded."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import numpy.typing as npt

from common.errors import InvalidFrame

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"IEND\xaeB`\x82"
# Start-of-frame markers carry the image size; C4, C8 and CC are not frames.
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_size(data: bytes, encoding: str) -> tuple[int, int]:
    """(width, height) read from the JPEG or PNG header, without decoding pixels."""
    if encoding == "png":
        return _png_size(data)
    if encoding == "jpeg":
        return _jpeg_size(data)
    raise InvalidFrame(f"expected encoding 'jpeg' or 'png', got {encoding!r}", "decode")


def _png_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidFrame(f"expected a PNG signature and IHDR header, got {data[:16]!r}", "decode")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(JPEG_SOI):
        raise InvalidFrame(f"expected JPEG bytes starting FF D8, got {data[:4].hex(' ')}", "decode")
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            raise InvalidFrame(f"expected a JPEG marker at byte {offset}, got garbage", "decode")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in SOF_MARKERS:
            if offset + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return int(width), int(height)
        offset += 2 + length
    raise InvalidFrame("expected a JPEG frame header (SOF), found none: truncated?", "truncated")


def check_limits(data: bytes, encoding: str, max_bytes: int, max_pixels: int) -> tuple[int, int]:
    """Refuse empty, oversized or truncated images before decoding; return (width, height)."""
    if not data:
        raise InvalidFrame("expected image bytes, got an empty image", "empty")
    if len(data) > max_bytes:
        raise InvalidFrame(
            f"expected at most {max_bytes} image bytes, got {len(data)}", "too_large"
        )
    width, height = image_size(data, encoding)
    if width <= 0 or height <= 0:
        raise InvalidFrame(f"expected a positive image size, got {width}x{height}", "empty")
    if width * height > max_pixels:
        raise InvalidFrame(
            f"expected at most {max_pixels} pixels, got {width}x{height} = {width * height}",
            "too_large",
        )
    end = PNG_IEND if encoding == "png" else JPEG_EOI
    if not data.rstrip(b"\x00").endswith(end):
        raise InvalidFrame(
            f"expected the {encoding.upper()} end marker {end.hex(' ')}, image is truncated",
            "truncated",
        )
    return width, height


def decode_gray(
    data: bytes,
    encoding: str,
    max_bytes: int,
    max_pixels: int,
    declared: tuple[int, int] | None = None,
) -> npt.NDArray[np.uint8]:
    """The frame as a grayscale uint8 image, or :class:`InvalidFrame` saying why not.

    ``declared``: the (width, height) the frame says it has; a header that disagrees is
    refused before decoding (face boxes are pixels of the frame as declared).
    """
    width, height = check_limits(data, encoding, max_bytes, max_pixels)
    if declared is not None and declared != (width, height):
        raise InvalidFrame(
            f"expected the {declared[0]}x{declared[1]} pixels the frame declares, "
            f"the {encoding.upper()} header says {width}x{height}"
        )
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InvalidFrame(
            f"expected a decodable {encoding.upper()} image, OpenCV could not decode it"
        )
    if image.shape != (height, width):
        raise InvalidFrame(
            f"expected {width}x{height} pixels from the header, "
            f"decoded {image.shape[1]}x{image.shape[0]}"
        )
    return np.asarray(image, dtype=np.uint8)
