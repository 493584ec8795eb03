"""Where frames come from: webcams, network streams, video files, image folders, scenes.

``open_source(spec)`` picks the source from a string, as the command line gives it:

==============================  ==================================================
spec                            source
==============================  ==================================================
``0``, ``1``, ...               webcam by index (live)
``scenes:`` or ``scenes:PATH``  labelled synthetic scenes from FER2013 at PATH
``motion:`` or ``motion:PATH``  a labelled moving scene (faces that move, get occluded
                                and change expression; ``producer.motion``), live
``rtsp://``, ``http(s)://``     network stream (live), reopened with backoff
                                (``producer.live``)
a folder                        its images in name order
anything else                   a video file
==============================  ==================================================

Every source is a :class:`~producer.frames.FrameSource`: an iterator of
:class:`~producer.frames.CapturedFrame` and a context manager. Files and
folders end (or start over with ``loop``); live sources run until closed. Anything that
cannot be opened raises :class:`~common.errors.SourceError` at once.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from common.defaults import (
    DEFAULT_DATA_DIR,
    DEFAULT_RECONNECT_ATTEMPTS,
    DEFAULT_STREAM_TIMEOUT_SECONDS,
)
from common.errors import SourceError
from common.metrics import SourceHealth
from producer.frames import CapturedFrame, FrameSource, UInt8Image
from producer.live import LiveCaptureSource
from producer.motion import MotionSequence
from producer.scenes import SceneGenerator

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
NETWORK_SCHEMES = ("rtsp://", "http://", "https://")
SCENES_PREFIX = "scenes:"
MOTION_PREFIX = "motion:"
MOTION_LOOP_SECONDS = 600.0  # a moving scene repeats after this long
SPEC_FORMS = (
    "a webcam index, 'scenes:[PATH]', 'motion:[PATH]', an rtsp/http(s) URL, an image folder "
    "or a video file"
)


class SceneSource(FrameSource):
    """Endless synthetic scenes; metadata carries the truth as ``{"faces": [...]}``."""

    def __init__(self, generator: SceneGenerator, description: str = "scenes") -> None:
        super().__init__(description)
        self.generator = generator

    def read(self) -> CapturedFrame | None:
        image, faces = self.generator.next_scene()
        return CapturedFrame(image, time.time(), {"faces": faces})


class MotionSource(FrameSource):
    """A moving labelled scene sampled at the wall-clock time of each read, as a camera
    would; metadata carries the truth of the visible faces as ``{"faces": [...]}``."""

    def __init__(self, sequence: MotionSequence, description: str = "motion") -> None:
        super().__init__(description)
        self.sequence = sequence
        self._started = time.monotonic()

    def read(self) -> CapturedFrame | None:
        at = (time.monotonic() - self._started) % self.sequence.duration
        image, truth = self.sequence.frame_at(at)
        visible = [face for face in truth if face["visible"]]
        return CapturedFrame(image, time.time(), {"faces": visible, "t": at})


class ImageFolderSource(FrameSource):
    """The images of one folder in name order; unreadable files are skipped with a warning."""

    def __init__(self, folder: Path, *, loop: bool = False) -> None:
        super().__init__(str(folder))
        self.loop = loop
        self.files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"image folder {folder}: expected {suffixes} files, got none")
        self._next = 0
        self._read_this_pass = 0
        self._unreadable: set[Path] = set()  # warned about once, not on every loop

    def read(self) -> CapturedFrame | None:
        while True:
            if self._next == len(self.files):
                if self._read_this_pass == 0:
                    raise SourceError(
                        f"image folder {self.description}: expected readable images, "
                        f"got none of {len(self.files)}"
                    )
                if not self.loop:
                    return None
                self._next, self._read_this_pass = 0, 0
            path = self.files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                if path not in self._unreadable:
                    logger.warning("skipping %s: not a readable image", path)
                    self._unreadable.add(path)
                continue
            self._read_this_pass += 1
            return CapturedFrame(np.asarray(image, np.uint8), time.time(), {"file": path.name})


class VideoFileSource(FrameSource):
    """A video file read frame by frame; ``loop`` starts it over at the end."""

    def __init__(self, path: Path, *, loop: bool = False) -> None:
        super().__init__(str(path))
        self.path = path
        self.loop = loop
        self._capture = self._open()
        self._index = 0
        self._pending = self._grab()
        if self._pending is None:
            self._capture.release()
            raise SourceError(f"video file {path}: expected at least one frame, got none")

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"video file {self.path}: expected a video OpenCV can read, "
                "got a file it cannot open"
            )
        return capture

    def _grab(self) -> UInt8Image | None:
        ok, image = self._capture.read()
        return np.asarray(image, np.uint8) if ok and image is not None else None

    def read(self) -> CapturedFrame | None:
        if self.closed:
            return None
        image, self._pending = self._pending, None
        if image is None:
            image = self._grab()
        if image is None and self.loop and self._index > 0:
            self._capture.release()
            self._capture = self._open()
            self._index = 0
            image = self._grab()
        if image is None:
            return None
        frame = CapturedFrame(image, time.time(), {"file_frame": self._index})
        self._index += 1
        return frame

    def close(self) -> None:
        super().close()
        self._capture.release()


def open_source(
    spec: str,
    *,
    loop: bool = False,
    data_dir: Path | None = None,
    seed: int = 0,
    reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
    timeout: float = DEFAULT_STREAM_TIMEOUT_SECONDS,
    health: SourceHealth | None = None,
) -> FrameSource:
    """The source a spec names (see the module docstring); ``SourceError`` if it won't open.

    ``reconnect_attempts``, ``timeout`` and ``health`` apply to live sources only.
    """
    spec = spec.strip()
    live = functools.partial(
        LiveCaptureSource, reconnect_attempts=reconnect_attempts, timeout=timeout, health=health
    )
    if spec.isdigit():
        return live(int(spec))
    if spec.startswith(SCENES_PREFIX):
        rest = spec[len(SCENES_PREFIX) :]
        root = Path(rest).expanduser() if rest else (data_dir or DEFAULT_DATA_DIR)
        return SceneSource(SceneGenerator(root, seed=seed), description=f"scenes from {root}")
    if spec.startswith(MOTION_PREFIX):
        rest = spec[len(MOTION_PREFIX) :]
        root = Path(rest).expanduser() if rest else (data_dir or DEFAULT_DATA_DIR)
        sequence = MotionSequence(root, MOTION_LOOP_SECONDS, seed=seed)
        return MotionSource(sequence, description=f"moving faces from {root}")
    if spec.lower().startswith(NETWORK_SCHEMES):
        return live(spec)
    path = Path(spec).expanduser()
    if spec and path.is_dir():
        return ImageFolderSource(path, loop=loop)
    if spec and path.is_file():
        return VideoFileSource(path, loop=loop)
    raise SourceError(f"source {spec!r}: expected {SPEC_FORMS}, got no such file or folder")
