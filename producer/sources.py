"""Where frames come from: webcams, network streams, video files, image folders, scenes.

``open_source(spec)`` picks the source from a string, as the command line gives it:

==============================  ==================================================
spec                            source
==============================  ==================================================
``0``, ``1``, ...               webcam by index (live)
``scenes:`` or ``scenes:PATH``  labelled synthetic scenes from FER2013 at PATH
``rtsp://``, ``http(s)://``     network stream (live), reopened with backoff
a folder                        its images in name order
anything else                   a video file
==============================  ==================================================

Every source is an iterator of :class:`CapturedFrame` and a context manager. Files and
folders end (or start over with ``loop``); live sources run until closed. Anything that
cannot be opened raises :class:`~common.errors.SourceError` at once.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from common.connection import redacted
from common.defaults import DEFAULT_DATA_DIR, DEFAULT_RECONNECT_BACKOFF_SECONDS
from common.errors import SourceError
from producer.scenes import SceneGenerator

logger = logging.getLogger(__name__)

UInt8Image = npt.NDArray[np.uint8]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
NETWORK_SCHEMES = ("rtsp://", "http://", "https://")
SCENES_PREFIX = "scenes:"
DEFAULT_RECONNECT_ATTEMPTS = 8  # 0.5 + 1 + 2 + 4 + 8 + 10 + 10 + 10 s before giving up
STREAM_TIMEOUT_MS = 5000  # how long FFmpeg may wait to open or read a network stream
SPEC_FORMS = "a webcam index, 'scenes:[PATH]', an rtsp/http(s) URL, an image folder or a video file"


@dataclass(frozen=True)
class CapturedFrame:
    """One image as captured, before encoding: BGR pixels, wall-clock time, free metadata."""

    image: UInt8Image
    captured_at: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        image = self.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            raise ValueError(
                f"CapturedFrame.image: expected (H, W, 3) uint8, got {image.shape} {image.dtype}"
            )


class FrameSource(ABC):
    """Base of all sources: ``read()`` gives the next frame, or None at the end."""

    is_live = False

    def __init__(self, description: str) -> None:
        self.description = description
        self._closed = threading.Event()

    @abstractmethod
    def read(self) -> CapturedFrame | None:
        """The next frame; None once the source has ended or was closed."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Release the device or file; iteration ends. Safe to call twice."""
        self._closed.set()

    def __iter__(self) -> Iterator[CapturedFrame]:
        return self

    def __next__(self) -> CapturedFrame:
        frame = None if self.closed else self.read()
        if frame is None:
            raise StopIteration
        return frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class SceneSource(FrameSource):
    """Endless synthetic scenes; metadata carries the truth as ``{"faces": [...]}``."""

    def __init__(self, generator: SceneGenerator, description: str = "scenes") -> None:
        super().__init__(description)
        self.generator = generator

    def read(self) -> CapturedFrame | None:
        image, faces = self.generator.next_scene()
        return CapturedFrame(image, time.time(), {"faces": faces})


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


def backoff_delays(initial: float, maximum: float) -> Iterator[float]:
    """``initial``, doubled each time, never above ``maximum``."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * 2.0, maximum)


class LiveCaptureSource(FrameSource):
    """A webcam or network stream; one that drops is reopened with exponential backoff.

    ``close()`` may be called from another thread: it interrupts a backoff wait, and
    releases the device once a read in progress has returned.
    """

    is_live = True

    def __init__(
        self,
        target: int | str,
        *,
        reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
        backoff: tuple[float, float] = DEFAULT_RECONNECT_BACKOFF_SECONDS,
    ) -> None:
        is_webcam = isinstance(target, int)
        super().__init__(f"webcam {target}" if is_webcam else redacted(str(target)))
        if reconnect_attempts < 0:
            raise ValueError(f"reconnect_attempts: expected >= 0, got {reconnect_attempts!r}")
        self.target = target
        self.reconnect_attempts = reconnect_attempts
        self.backoff = backoff
        self._lock = threading.Lock()
        self._pending: UInt8Image | None = None
        self._capture = self._open()
        if self._capture is None and not is_webcam:  # a stream may still be starting up
            self._pending = self._recover()
        if self._capture is None:
            tries = 1 if is_webcam else 1 + reconnect_attempts
            raise SourceError(
                f"{self.description}: expected a camera or stream that opens, "
                f"got none (tries: {tries})"
            )

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.target, int):
            capture = cv2.VideoCapture(self.target)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        else:
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
            timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
            capture = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _release(self) -> None:
        with self._lock:
            if self._capture is not None:
                self._capture.release()
            self._capture = None

    def _grab(self) -> UInt8Image | None:
        with self._lock:
            if self._capture is None or self.closed:
                return None
            ok, image = self._capture.read()
        return np.asarray(image, np.uint8) if ok and image is not None else None

    def _recover(self) -> UInt8Image | None:
        """Reopen, waiting longer each time, until a frame arrives; None if all tries fail."""
        self._release()
        delays = backoff_delays(*self.backoff)
        for attempt in range(1, self.reconnect_attempts + 1):
            delay = next(delays)
            logger.warning(
                "%s: reconnecting in %.2fs (attempt %d of %d)",
                *(self.description, delay, attempt, self.reconnect_attempts),
            )
            if self._closed.wait(delay):
                return None
            capture = self._open()
            if capture is None:
                continue
            with self._lock:
                self._capture = capture
            image = self._grab()
            if image is not None:
                logger.info("%s: reconnected", self.description)
                return image
            self._release()
        return None

    def read(self) -> CapturedFrame | None:
        image, self._pending = self._pending, None
        if image is None:
            image = self._grab()
        if image is None and not self.closed:
            image = self._recover()
            if image is None and not self.closed:
                raise SourceError(
                    f"{self.description}: expected the stream back within "
                    f"{self.reconnect_attempts} reconnect attempts, got none"
                )
        return None if image is None else CapturedFrame(image, time.time())

    def close(self) -> None:
        super().close()
        self._release()


def open_source(
    spec: str,
    *,
    loop: bool = False,
    data_dir: Path | None = None,
    seed: int = 0,
    reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
) -> FrameSource:
    """The source a spec names (see the module docstring); ``SourceError`` if it won't open."""
    spec = spec.strip()
    if spec.isdigit():
        return LiveCaptureSource(int(spec), reconnect_attempts=reconnect_attempts)
    if spec.startswith(SCENES_PREFIX):
        rest = spec[len(SCENES_PREFIX) :]
        root = Path(rest).expanduser() if rest else (data_dir or DEFAULT_DATA_DIR)
        return SceneSource(SceneGenerator(root, seed=seed), description=f"scenes from {root}")
    if spec.lower().startswith(NETWORK_SCHEMES):
        return LiveCaptureSource(spec, reconnect_attempts=reconnect_attempts)
    path = Path(spec).expanduser()
    if spec and path.is_dir():
        return ImageFolderSource(path, loop=loop)
    if spec and path.is_file():
        return VideoFileSource(path, loop=loop)
    raise SourceError(f"source {spec!r}: expected {SPEC_FORMS}, got no such file or folder")
