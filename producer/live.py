"""Live capture: a webcam or a network stream, reopened with backoff when it fails.

How a camera's stream fails, and what the source does (``timeout`` defaults to 5 s):

==================================  ============================================================
fault                               what the source sees and does
==================================  ============================================================
stalls (connection open, silent)    a read waits ``timeout``, then the stream is reopened
drops (connection closed)           reads fail at once; reopened after 3 in a row
refuses connections                 each reopen fails at once; backoff grows to its cap
sends garbage (not video, HTML)     the open fails, or reads do not decode: reopened, then given up
one frame that does not decode      skipped; the next read goes on
==================================  ============================================================

Reopens wait ``backoff`` (doubling to its cap); after ``reconnect_attempts`` of them
without a frame, ``read`` raises ``SourceError`` saying what the last one saw. Messages
and logs name the stream by ``redacted`` URL, never its credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np

from common.connection import redacted
from common.defaults import (
    DEFAULT_RECONNECT_ATTEMPTS,
    DEFAULT_RECONNECT_BACKOFF_SECONDS,
    DEFAULT_STREAM_TIMEOUT_SECONDS,
)
from common.errors import SourceError
from common.metrics import SourceHealth
from producer.frames import CapturedFrame, FrameSource, UInt8Image

logger = logging.getLogger(__name__)

# A live source reopens its stream after this many failed reads in a row (or one that
# waited the whole timeout): a single frame that does not decode is skipped, not a drop.
FAILED_READS_BEFORE_RECONNECT = 3
WOULD_NOT_OPEN = "it would not open"
SENT_NO_FRAME = "it opened but sent no frame that decodes"


def backoff_delays(initial: float, maximum: float) -> Iterator[float]:
    """``initial``, doubled each time, never above ``maximum``."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * 2.0, maximum)


class LiveCaptureSource(FrameSource):
    """A webcam or network stream; one that fails is reopened with exponential backoff.

    A stream has failed when a read waits ``timeout`` seconds (network streams) for a frame, or
    ``FAILED_READS_BEFORE_RECONNECT`` reads in a row give none (dropped, or data that does
    not decode); a single bad frame is skipped. After ``reconnect_attempts`` reopens
    without a frame, ``read`` raises ``SourceError``. ``health``, if given, is told of
    every frame, failed read and reconnect attempt.

    ``close()`` may be called from another thread: it interrupts a backoff wait, and
    releases the device once a read or open in progress has returned (within ``timeout``).
    """

    is_live = True

    def __init__(
        self,
        target: int | str,
        *,
        reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
        backoff: tuple[float, float] = DEFAULT_RECONNECT_BACKOFF_SECONDS,
        timeout: float = DEFAULT_STREAM_TIMEOUT_SECONDS,
        health: SourceHealth | None = None,
    ) -> None:
        is_webcam = isinstance(target, int)
        super().__init__(f"webcam {target}" if is_webcam else redacted(str(target)))
        if reconnect_attempts < 0:
            raise ValueError(f"reconnect_attempts: expected >= 0, got {reconnect_attempts!r}")
        if not timeout > 0:
            raise ValueError(f"timeout: expected > 0 seconds, got {timeout!r}")
        self.target = target
        self.reconnect_attempts = reconnect_attempts
        self.backoff = backoff
        self.timeout = timeout
        self.health = health
        self._lock = threading.Lock()
        self._pending: UInt8Image | None = None
        self._last_failure = WOULD_NOT_OPEN
        self._capture = self._open()
        if self._capture is None and not is_webcam:  # a stream may still be starting up
            self._pending = self._recover()
        if self._capture is None:
            tries = 1 if is_webcam else 1 + reconnect_attempts
            raise SourceError(
                f"{self.description}: expected a camera or stream that opens, "
                f"got none (tries: {tries}; the last: {self._last_failure})"
            )

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.target, int):
            capture = cv2.VideoCapture(self.target)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        else:
            milliseconds = max(1, round(self.timeout * 1000))
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds]
            timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds]
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

    def _next_image(self) -> UInt8Image | None:
        """The next frame, past a few that do not decode; None once the stream has failed."""
        started = time.monotonic()
        for _ in range(FAILED_READS_BEFORE_RECONNECT):
            image = self._grab()
            if image is not None:
                if self.health is not None:
                    self.health.frame_arrived()
                return image
            if self.closed:
                return None
            if self.health is not None:
                self.health.read_failed()
            if time.monotonic() - started >= self.timeout:
                break  # stalled: this read waited the whole timeout
        return None

    def _reopen(self) -> UInt8Image | None:
        """Open the target again and read a frame from it; None (and why) if either fails."""
        capture = self._open()
        if capture is None:
            self._last_failure = WOULD_NOT_OPEN
            return None
        with self._lock:
            if self.closed:  # closed while the open was in progress
                capture.release()
                return None
            self._capture = capture
        image = self._next_image()
        if image is None:
            self._last_failure = SENT_NO_FRAME
            self._release()
        return image

    def _recover(self) -> UInt8Image | None:
        """Reopen, waiting longer each time, until a frame arrives; None if all tries fail."""
        self._release()
        if self.health is not None:
            self.health.down()
        delays = backoff_delays(*self.backoff)
        for attempt in range(1, self.reconnect_attempts + 1):
            delay = next(delays)
            logger.warning(
                "%s: reconnecting in %.2fs (attempt %d of %d)",
                *(self.description, delay, attempt, self.reconnect_attempts),
            )
            if self._closed.wait(delay):
                return None
            if self.health is not None:
                self.health.reconnecting()
            image = self._reopen()
            if image is not None:
                logger.info("%s: reconnected (attempt %d)", self.description, attempt)
                return image
        return None

    def read(self) -> CapturedFrame | None:
        image, self._pending = self._pending, None
        if image is None:
            image = self._next_image()
        if image is None and not self.closed:
            image = self._recover()
            if image is None and not self.closed:
                raise SourceError(
                    f"{self.description}: expected frames again within "
                    f"{self.reconnect_attempts} reconnect attempts, got none "
                    f"(the last: {self._last_failure})"
                )
        return None if image is None else CapturedFrame(image, time.time())

    def close(self) -> None:
        super().close()
        self._release()
        if self.health is not None:
            self.health.down()
