"""What every frame source gives: ``CapturedFrame``s, through the ``FrameSource`` base."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

UInt8Image = npt.NDArray[np.uint8]


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
