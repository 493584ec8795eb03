"""Track hints: a camera's last tracked boxes, kept short-lived in Redis for the workers.

The track service writes them with each ``Tracks`` message it publishes (``write_hint``);
a worker reads those of a batch's cameras in one MGET (``read_hints``) to guide its face
detection (``worker.guidance``). A hint is a msgpack map ``{"n": frame number, "ts":
its capture time, "boxes": [[x, y, w, h, vx, vy, missing], ...]}`` (velocity in pixels
per second; ``missing`` 1 for a track that was not seen in that frame, which a worker
looks for but does not count on), so a worker carries each box forward to its own frame's
capture time; anything else is ignored, never trusted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import msgpack
import redis

from common.keys import track_hints

log = logging.getLogger(__name__)

HintBox = tuple[int, int, int, int]
MAX_HINT_BOXES = 64  # more is not a hint but an attack on the worker's time
MAX_PREDICTION_SECONDS = 1.0  # a box is not carried forward further than this
MAX_SPEED = 10_000.0  # pixels per second; a faster hint is not believed


@dataclass(frozen=True)
class HintedBox:
    """A tracked box and its velocity (pixels per second); ``missing`` when its track was
    not seen in the hint's frame (it coasts: the face is occluded or gone)."""

    box: HintBox
    velocity: tuple[float, float] = (0.0, 0.0)
    missing: bool = False

    def at(self, dt: float) -> HintBox:
        """The box carried ``dt`` seconds forward (``dt`` clipped to 0..1 s)."""
        dt = min(max(dt, 0.0), MAX_PREDICTION_SECONDS)
        x, y, w, h = self.box
        return (
            max(0, round(x + self.velocity[0] * dt)),
            max(0, round(y + self.velocity[1] * dt)),
            w,
            h,
        )


@dataclass(frozen=True)
class Hint:
    """A camera's last tracked boxes, the frame they are from and its capture time."""

    frame_number: int
    captured_at: float
    boxes: tuple[HintedBox, ...]

    def boxes_at(self, captured_at: float) -> list[tuple[HintBox, bool]]:
        """Where the boxes are expected in a frame captured at ``captured_at``, each with
        whether its track is missing."""
        return [(b.at(captured_at - self.captured_at), b.missing) for b in self.boxes]

    def encode(self) -> bytes:
        packed: bytes = msgpack.packb(
            {
                "n": self.frame_number,
                "ts": self.captured_at,
                "boxes": [[*b.box, *b.velocity, int(b.missing)] for b in self.boxes],
            },
            use_bin_type=True,
        )
        return packed

    @classmethod
    def decode(cls, data: bytes) -> Hint | None:
        """The hint in ``data``, or None for anything that is not one (never raises)."""
        try:
            value = msgpack.unpackb(data, raw=False)
            if len(value["boxes"]) > MAX_HINT_BOXES:
                return None
            boxes = tuple(_box(entry) for entry in value["boxes"])
            number, at = int(value["n"]), float(value["ts"])
        except (ValueError, TypeError, KeyError, OverflowError, msgpack.UnpackException):
            return None
        if number < 0 or not math.isfinite(at) or any(b is None for b in boxes):
            return None
        return cls(number, at, tuple(b for b in boxes if b is not None))


def _box(entry: list[float]) -> HintedBox | None:
    x, y, w, h, vx, vy = entry[:6]
    if len(entry) > 7:
        return None
    missing = bool(entry[6]) if len(entry) == 7 else False
    box = (int(x), int(y), int(w), int(h))
    speed = (float(vx), float(vy))
    if min(box[2], box[3]) < 1 or min(box[0], box[1]) < 0:
        return None
    if not all(math.isfinite(v) and abs(v) <= MAX_SPEED for v in speed):
        return None
    return HintedBox(box, speed, missing)


def read_hints(
    connection: redis.Redis[bytes], prefix: str, cameras: Iterable[str]
) -> dict[str, Hint]:
    """The hints of ``cameras`` in one MGET; an unreachable Redis gives none (full search)."""
    names = sorted(set(cameras))
    if not names:
        return {}
    try:
        values = connection.mget([track_hints(prefix, camera) for camera in names])
    except redis.RedisError as exc:
        log.warning("no detection hints this batch (%s): searching whole frames", exc)
        return {}
    hints = {}
    for camera, value in zip(names, values, strict=True):
        hint = Hint.decode(value) if value else None
        if hint is not None:
            hints[camera] = hint
    return hints


def write_hint(
    pipe: redis.client.Pipeline[bytes], prefix: str, camera_id: str, hint: Hint, ttl_ms: int
) -> None:
    """Queue the camera's hint on ``pipe`` (no boxes: none, so workers search everything)."""
    key = track_hints(prefix, camera_id)
    if hint.boxes:
        pipe.set(key, hint.encode(), px=ttl_ms)
    else:
        pipe.delete(key)
