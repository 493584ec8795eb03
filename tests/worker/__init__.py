"""Helpers for the worker and integration tests: real encoded images and bad job payloads.

Every payload here is what a broken or hostile producer could really put on the queue:
bytes built with OpenCV and msgpack, then cut, padded or patched.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import msgpack
import numpy as np

from common.accounting import UNKNOWN_CAMERA
from common.defaults import DEFAULT_MAX_FRAME_BYTES
from common.wire import Frame
from producer.encoding import encode_jpeg
from producer.scenes import SceneGenerator
from worker.detector import BoxTuple, FaceDetector

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAD_CAMERA = "cam-bad"


class SlowDetector:
    """The real detector, after a pause: a batch that stays in hand (past its time limit,
    or while Redis restarts)."""

    def __init__(self, detector: FaceDetector, pause: float) -> None:
        self.detector, self.pause = detector, pause

    def detect(self, gray: np.ndarray) -> list[BoxTuple]:
        time.sleep(self.pause)
        return self.detector.detect(gray)

    def detect_in(
        self,
        gray: np.ndarray,
        min_side: int,
        max_side: int | None = None,
        downscale: float | None = None,
    ) -> list[BoxTuple]:
        time.sleep(self.pause)
        return self.detector.detect_in(gray, min_side, max_side, downscale)


def textured_image(width: int = 96, height: int = 64) -> np.ndarray:
    """A gray gradient with noise: compresses like a photo, decodes to known pixels."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 200, width, dtype=np.float32)[np.newaxis, :].repeat(height, axis=0)
    noisy = ramp + rng.normal(0, 12, size=(height, width)).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, suffix: str) -> bytes:
    ok, encoded = cv2.imencode(suffix, image)
    assert ok, f"OpenCV could not encode {suffix}"
    return bytes(encoded.tobytes())


def patch_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` whose SOF0 header claims ``width`` x ``height`` (the pixel data is untouched)."""
    offset = 2
    while jpeg[offset + 1] != 0xC0:  # walk the marker segments to the baseline frame header
        offset += 2 + int.from_bytes(jpeg[offset + 2 : offset + 4], "big")
    return jpeg[: offset + 5] + struct.pack(">HH", height, width) + jpeg[offset + 9 :]


def scene_frame(
    data_dir: Path,
    camera_id: str = "cam-1",
    frame_number: int = 0,
    seed: int = 0,
    captured_at: float | None = None,
) -> Frame:
    """A synthetic 640x480 scene of real FER faces as a wire frame; truth in ``metadata``."""
    image, faces = SceneGenerator(data_dir, seed=seed).next_scene()
    height, width = image.shape[:2]
    return Frame(
        camera_id=camera_id,
        frame_number=frame_number,
        captured_at=time.time() if captured_at is None else captured_at,
        image=encode_jpeg(image, 85),
        width=width,
        height=height,
        metadata={"faces": faces},
    )


def _frame_bytes(image: bytes, encoding: str = "jpeg", width: int = 96, height: int = 64) -> bytes:
    return Frame(
        camera_id=BAD_CAMERA,
        frame_number=7,
        captured_at=time.time(),
        image=image,
        width=width,
        height=height,
        encoding=encoding,
    ).encode()


def _raw_frame_map(**changes: object) -> bytes:
    """A frame map packed by hand, so it can break rules the ``Frame`` class enforces."""
    fields: dict[str, object] = {
        "v": 1, "cam": BAD_CAMERA, "n": 7, "ts": time.time(), "img": b"",
        "w": 96, "h": 64, "enc": "jpeg", "meta": {},
    }  # fmt: skip
    fields.update(changes)
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


@dataclass(frozen=True)
class BadJob:
    """A ``process_frame`` argument that must fail its job, and how that failure is counted."""

    name: str
    payload: bytes
    camera_id: str  # whose counters record the failure
    reason: str  # counted as ``failed:<reason>``
    says: str  # found in the job's exc_string


def bad_jobs() -> list[BadJob]:
    """Every kind of bad frame a worker must refuse without dying (built fresh: timestamps)."""
    jpeg = encode(textured_image(), ".jpg")
    png = encode(textured_image(), ".png")
    garbage = np.random.default_rng(11).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    return [
        BadJob("not msgpack", b"\xc1\xc1 not msgpack", UNKNOWN_CAMERA, "schema", "msgpack"),
        BadJob(
            "wrong schema map",
            msgpack.packb({"v": 1, "camera": "cam-x", "frame": 3}),
            UNKNOWN_CAMERA,
            "schema",
            "missing",
        ),
        BadJob("empty image", _raw_frame_map(img=b""), UNKNOWN_CAMERA, "schema", "Frame.image"),
        BadJob(
            "truncated JPEG",
            _frame_bytes(jpeg[: len(jpeg) // 2]),
            BAD_CAMERA,
            "truncated",
            "truncated",
        ),
        BadJob(
            "over the byte limit",
            _frame_bytes(jpeg + bytes(DEFAULT_MAX_FRAME_BYTES)),
            BAD_CAMERA,
            "too_large",
            f"at most {DEFAULT_MAX_FRAME_BYTES} image bytes",
        ),
        BadJob(
            "over the pixel limit",
            _frame_bytes(patch_jpeg_size(jpeg, 10000, 10000)),
            BAD_CAMERA,
            "too_large",
            "10000x10000",
        ),
        BadJob(
            "zero-size header",
            _frame_bytes(patch_jpeg_size(jpeg, 0, 0)),
            BAD_CAMERA,
            "empty",
            "0x0",
        ),
        BadJob(
            "PNG signature then garbage",
            _frame_bytes(PNG_SIGNATURE + garbage, "png"),
            BAD_CAMERA,
            "decode",
            "PNG",
        ),
        BadJob("PNG bytes sent as JPEG", _frame_bytes(png, "jpeg"), BAD_CAMERA, "decode", "FF D8"),
        BadJob("garbage sent as JPEG", _frame_bytes(garbage), BAD_CAMERA, "decode", "FF D8"),
        BadJob(
            "declared size disagrees",  # found by tests/fuzz
            _frame_bytes(jpeg, width=640, height=480),
            BAD_CAMERA,
            "decode",
            "the 640x480 pixels the frame declares, the JPEG header says 96x64",
        ),
        BadJob(
            "nested 1000 deep",  # found by tests/fuzz: RecursionError stopped the worker
            b"\x91" * 1000 + b"\x00",
            UNKNOWN_CAMERA,
            "schema",
            "expected a msgpack map, got list [[[[...]]]]",
        ),
    ]


BAD_JOB_NAMES = [job.name for job in bad_jobs()]
