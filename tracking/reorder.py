"""A camera's results back in frame order: held in a small window, released in order.

Workers finish frames out of order, and some frames never produce a result (dropped as
stale, failed). So the buffer never waits for a missing frame for long: it releases the
oldest held result once ``window`` results are held, or once it has been held
``max_wait_seconds``. A result older than one already released is late; it is counted
and discarded, because the tracks have moved past it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass(order=True)
class _Held(Generic[Item]):
    frame_number: int
    arrived: float = field(compare=False)
    item: Item = field(compare=False)


class ReorderBuffer(Generic[Item]):
    def __init__(self, window: int = 8, max_wait_seconds: float = 0.5) -> None:
        if window < 1:
            raise ValueError(f"expected a window of at least 1, got {window}")
        self.window = window
        self.max_wait_seconds = max_wait_seconds
        self._held: list[_Held[Item]] = []
        self.next_frame: int | None = None  # the lowest frame number still expected
        self.late = 0

    def __len__(self) -> int:
        return len(self._held)

    def push(self, frame_number: int, item: Item, now: float) -> list[Item]:
        """Hold ``item``; return the items now released, in frame order."""
        if self.next_frame is not None and frame_number < self.next_frame:
            self.late += 1
            return self.release(now)
        heapq.heappush(self._held, _Held(frame_number, now, item))
        return self.release(now)

    def release(self, now: float) -> list[Item]:
        """The items that no longer need to wait (call it on idle ticks too)."""
        out: list[Item] = []
        while self._held and self._ready(self._held[0], now):
            held = heapq.heappop(self._held)
            self.next_frame = held.frame_number + 1
            out.append(held.item)
        return out

    def flush(self) -> list[Item]:
        out = [heapq.heappop(self._held).item for _ in range(len(self._held))]
        return out

    def _ready(self, oldest: _Held[Item], now: float) -> bool:
        in_order = self.next_frame is not None and oldest.frame_number == self.next_frame
        return (
            in_order
            or len(self._held) > self.window
            or now - min(h.arrived for h in self._held) >= self.max_wait_seconds
        )
