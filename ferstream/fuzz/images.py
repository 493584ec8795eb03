"""Hostile images: real JPEG and PNG bytes, then cut, corrupted, given headers that lie
about their size (decompression bombs), or sent with another size or encoding than the
frame declares; and bytes that were never an image.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass, replace

import cv2
import numpy as np
from hypothesis import strategies as st

from worker.decoding import JPEG_EOI, JPEG_SOI, PNG_IEND, PNG_SIGNATURE, SOF_MARKERS

MAX_SIDE = 64  # of the real images drawn: small, so that thousands encode in seconds
JPEG_MAX_SIDE = 65535  # a JPEG header's 16-bit sides
PNG_MAX_SIDE = 2**31 - 1  # a PNG header's sides (the format's own limit)
BOMB_IDAT_BYTES = 16 * 1024 * 1024  # what the huge-IDAT PNG's data inflates to


@dataclass(frozen=True)
class ClaimedImage:
    """Image bytes and what a frame claims about them: encoding and width x height."""

    data: bytes
    encoding: str
    width: int
    height: int


def encode(image: np.ndarray, encoding: str) -> bytes:
    """``image`` as OpenCV encodes it (``encoding``: "jpeg" or "png")."""
    ok, encoded = cv2.imencode(".jpg" if encoding == "jpeg" else ".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {encoding}")
    return bytes(encoded.tobytes())


def jpeg_sized(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` whose frame header (SOF) claims ``width`` x ``height``; pixels untouched."""
    offset = 2
    while offset + 4 <= len(jpeg) and jpeg[offset + 1] not in SOF_MARKERS:
        offset += 2 + int.from_bytes(jpeg[offset + 2 : offset + 4], "big")
    if offset + 9 > len(jpeg):
        return jpeg
    return jpeg[: offset + 5] + struct.pack(">HH", height, width) + jpeg[offset + 9 :]


def png_sized(png: bytes, width: int, height: int) -> bytes:
    """``png`` whose IHDR claims ``width`` x ``height``, with a valid CRC (so only the
    size lies); the image data is untouched."""
    header = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + header + struct.pack(">I", zlib.crc32(header)) + png[33:]


@functools.cache
def _zeros_deflated() -> bytes:
    return zlib.compress(bytes(BOMB_IDAT_BYTES), 9)


def png_with_huge_idat(width: int, height: int) -> bytes:
    """A PNG whose header is small and honest but whose IDAT inflates to 16 MiB."""
    header = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = b"IDAT" + _zeros_deflated()
    return b"".join(
        [
            PNG_SIGNATURE,
            *(struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
              for chunk in (header, idat)),
            struct.pack(">I", 0) + PNG_IEND,
        ]
    )  # fmt: skip


@st.composite
def real_images(draw: st.DrawFn) -> ClaimedImage:
    """A real gray or colour JPEG or PNG up to 64 x 64, claimed honestly."""
    width, height = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    channels = draw(st.sampled_from([1, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)
    encoding = draw(st.sampled_from(["jpeg", "png"]))
    return ClaimedImage(encode(pixels, encoding), encoding, width, height)


@st.composite
def truncated(draw: st.DrawFn, image: ClaimedImage) -> ClaimedImage:
    """Cut anywhere; sometimes with its end marker put back, so only the middle is gone."""
    data = image.data[: draw(st.integers(0, len(image.data) - 1))]
    if draw(st.booleans()):
        data += PNG_IEND if image.encoding == "png" else JPEG_EOI
    return replace(image, data=data)


@st.composite
def corrupted(draw: st.DrawFn, image: ClaimedImage) -> ClaimedImage:
    """A few bytes overwritten, anywhere (headers included)."""
    data = bytearray(image.data)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return replace(image, data=bytes(data))


@st.composite
def lying_size(draw: st.DrawFn, image: ClaimedImage) -> ClaimedImage:
    """The header claims another size, up to the format's limit (a decompression bomb when
    huge); the frame declares the header's size or the true one."""
    limit = PNG_MAX_SIDE if image.encoding == "png" else JPEG_MAX_SIDE
    side = st.one_of(st.integers(0, 4 * MAX_SIDE), st.integers(0, limit), st.just(limit))
    width, height = draw(side), draw(side)
    sized = png_sized if image.encoding == "png" else jpeg_sized
    declared = draw(st.sampled_from([(width, height), (image.width, image.height)]))
    return ClaimedImage(sized(image.data, width, height), image.encoding, *declared)


@st.composite
def misclaimed(draw: st.DrawFn, image: ClaimedImage) -> ClaimedImage:
    """An intact image whose frame declares another size, or another encoding."""
    if draw(st.booleans()):
        encoding = "png" if image.encoding == "jpeg" else "jpeg"
        return replace(image, encoding=draw(st.sampled_from([encoding, "gif", ""])))
    side = st.integers(1, 4 * MAX_SIDE)
    return replace(image, width=draw(side), height=draw(side))


@st.composite
def garbage(draw: st.DrawFn) -> ClaimedImage:
    """Bytes that were never an image, maybe behind a signature and before an end marker."""
    encoding = draw(st.sampled_from(["jpeg", "png"]))
    start = draw(st.sampled_from([b"", JPEG_SOI, JPEG_SOI + b"\xff", PNG_SIGNATURE]))
    end = draw(st.sampled_from([b"", JPEG_EOI, PNG_IEND]))
    body = draw(st.binary(max_size=2048))
    return ClaimedImage(start + body + end, encoding, draw(st.integers(1, 64)), 64)


@st.composite
def huge_idat(draw: st.DrawFn) -> ClaimedImage:
    width, height = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    return ClaimedImage(png_with_huge_idat(width, height), "png", width, height)


def hostile_images() -> st.SearchStrategy[ClaimedImage]:
    """Any image a broken or hostile producer could send, real ones included."""
    real = real_images()
    return st.one_of(
        real,
        real.flatmap(truncated),
        real.flatmap(corrupted),
        real.flatmap(lying_size),
        real.flatmap(misclaimed),
        garbage(),
        huge_idat(),
    )
