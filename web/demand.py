"""Which cameras someone is watching, and how often they need a new drawing.

Each request for a camera's picture says so (``want``); the wish lapses after
``HOLD_SECONDS``. The renderer draws only watched cameras, each at most as often as its
most eager viewer needs (the grid's tiles refresh every second or two; a camera page
wants every new frame), so the work grows with the cameras watched, never the viewers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

HOLD_SECONDS = 5.0
GRID_INTERVAL = 1.0  # seconds between drawings a grid's tile needs
LIVE_INTERVAL = 0.0  # a camera page: every new frame


class Demand:
    """Thread-safe: the web service's handlers write, the renderer's thread reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._wants: dict[str, dict[float, float]] = {}  # camera -> interval -> until

    def want(self, camera_id: str, interval: float) -> None:
        """Someone shows ``camera_id`` and needs a new drawing every ``interval`` seconds."""
        with self._lock:
            self._wants.setdefault(camera_id, {})[interval] = self._clock() + HOLD_SECONDS

    def interval(self, camera_id: str) -> float | None:
        """The shortest interval still wanted for ``camera_id``; None: nobody watches it."""
        now = self._clock()
        with self._lock:
            wants = self._wants.get(camera_id, {})
            live = [interval for interval, until in wants.items() if until > now]
            if not live:
                self._wants.pop(camera_id, None)
                return None
            return min(live)
