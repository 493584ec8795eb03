"""A track's emotion over time: probabilities smoothed by real time, a label with hysteresis.

- **Moving average by time, not by frame.** A new observation ``p`` at ``dt`` seconds after
  the last moves the average by ``1 - 0.5 ** (dt / half_life)``, so a 5 fps and a 30 fps
  camera settle equally fast in seconds.
- **Hysteresis.** The shown label changes only when another class leads it by ``margin``
  in the average for at least ``hold_seconds``.
- **Uncertain.** When no class's average reaches ``confidence_floor``, the
  label is ``None`` (shown as "uncertain") until it is back above the floor by
  ``UNCERTAIN_MARGIN``, so a face near the floor does not blink in and out of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from common.defaults import (
    DEFAULT_TRACK_CONFIDENCE_FLOOR,
    DEFAULT_TRACK_HALF_LIFE_SECONDS,
    DEFAULT_TRACK_SWITCH_HOLD_SECONDS,
    DEFAULT_TRACK_SWITCH_MARGIN,
)

Probabilities = npt.NDArray[np.float64]
UNCERTAIN_MARGIN = 0.05


@dataclass(frozen=True)
class SmoothingConfig:
    half_life_seconds: float = DEFAULT_TRACK_HALF_LIFE_SECONDS
    margin: float = DEFAULT_TRACK_SWITCH_MARGIN
    hold_seconds: float = DEFAULT_TRACK_SWITCH_HOLD_SECONDS
    confidence_floor: float = DEFAULT_TRACK_CONFIDENCE_FLOOR

    def __post_init__(self) -> None:
        if self.half_life_seconds <= 0:
            raise ValueError(f"expected a positive half-life, got {self.half_life_seconds}")
        if not 0.0 <= self.margin < 1.0 or not 0.0 <= self.confidence_floor < 1.0:
            raise ValueError("expected a margin and a confidence floor in [0, 1)")
        if self.hold_seconds < 0:
            raise ValueError(f"expected a hold of 0 s or more, got {self.hold_seconds}")


class EmotionSmoother:
    """One track's smoothed probabilities and shown label."""

    def __init__(self, config: SmoothingConfig) -> None:
        self.config = config
        self.average: Probabilities | None = None
        self.leader: int | None = None  # the class the label shows, before the floor
        self._challenger: int | None = None
        self._challenger_since = 0.0
        self._last_at = 0.0
        self._uncertain = False

    @property
    def label(self) -> int | None:
        """The class shown, or ``None`` while uncertain."""
        return None if self._uncertain else self.leader

    def update(self, probabilities: Probabilities, at: float) -> None:
        observed = np.asarray(probabilities, dtype=np.float64)
        if self.average is None:
            self.average = observed.copy()
            self.leader = int(observed.argmax())
        else:
            dt = max(0.0, at - self._last_at)
            keep = 0.5 ** (dt / self.config.half_life_seconds)
            self.average = keep * self.average + (1.0 - keep) * observed
            self._follow_leader(at)
        self._follow_confidence()
        self._last_at = at

    def _follow_confidence(self) -> None:
        # the best class's share, not the shown one's: while one expression gives way to
        # the next, neither need be sure, and the label should not blink to "uncertain"
        assert self.average is not None
        confidence = float(self.average.max())
        floor = self.config.confidence_floor
        if self._uncertain:
            self._uncertain = confidence < floor + UNCERTAIN_MARGIN
        else:
            self._uncertain = confidence < floor

    def _follow_leader(self, at: float) -> None:
        assert self.average is not None and self.leader is not None
        best = int(self.average.argmax())
        leads = best != self.leader and (
            self.average[best] - self.average[self.leader] >= self.config.margin
        )
        if not leads:
            self._challenger = None
            return
        if self._challenger != best:
            self._challenger, self._challenger_since = best, at
        if at - self._challenger_since >= self.config.hold_seconds:
            self.leader, self._challenger = best, None
