"""A camera's annotated frame as the renderer leaves it in Redis for every viewer.

A versioned msgpack map (never pickled), in the short-lived key
``common.keys.rendered_frame``:

=====  =============  =========  ==================================================
key    field          msgpack    constraint
=====  =============  =========  ==================================================
v      version        int        in ``SUPPORTED_VERSIONS``
cam    camera_id      str        as in ``common.wire.Frame``
n      frame_number   int        the result's frame, >= 0
ts     captured_at    float      its capture time, unix seconds
pub    published_at   float      when its result was published, unix seconds
at     rendered_at    float      when this drawing was made, unix seconds
faces  faces          int        faces drawn, >= 0
stale  stale          bool       the frame or its results stopped: an old drawing
jpg    jpeg           bin        the annotated frame, JPEG
=====  =============  =========  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import msgpack

from common.errors import SchemaError, describe
from common.wire import SUPPORTED_VERSIONS, WIRE_VERSION, check_camera_id

_FIELDS = {
    "v": "version", "cam": "camera_id", "n": "frame_number", "ts": "captured_at",
    "pub": "published_at", "at": "rendered_at", "faces": "faces", "stale": "stale", "jpg": "jpeg",
}  # fmt: skip
_TYPES: dict[str, tuple[type, ...]] = {
    "v": (int,), "cam": (str,), "n": (int,), "ts": (int, float), "pub": (int, float),
    "at": (int, float), "faces": (int,), "stale": (bool,), "jpg": (bytes,),
}  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """One annotated frame of a camera."""

    camera_id: str
    frame_number: int
    captured_at: float
    published_at: float
    rendered_at: float
    faces: int
    stale: bool
    jpeg: bytes
    version: int = WIRE_VERSION

    def encode(self) -> bytes:
        packed: bytes = msgpack.packb(
            {key: getattr(self, name) for key, name in _FIELDS.items()}, use_bin_type=True
        )
        return packed

    def marked_stale(self, jpeg: bytes) -> Snapshot:
        """This snapshot, its drawing replaced by ``jpeg`` (marked), flagged stale."""
        return replace(self, jpeg=jpeg, stale=True)

    @classmethod
    def decode(cls, data: bytes) -> Snapshot:
        try:
            value: Any = msgpack.unpackb(data, raw=False)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise SchemaError(
                f"Snapshot: expected a msgpack map, got undecodable bytes ({exc})"
            ) from None
        if not isinstance(value, dict) or set(value) != set(_FIELDS):
            raise SchemaError(f"Snapshot: expected fields {sorted(_FIELDS)}, got {describe(value)}")
        for key, kinds in _TYPES.items():
            is_bool = isinstance(value[key], bool)
            if not isinstance(value[key], kinds) or is_bool != (kinds == (bool,)):
                raise SchemaError(
                    f"Snapshot.{_FIELDS[key]}: expected {kinds[0].__name__}, "
                    f"got {describe(value[key])}"
                )
        if value["v"] not in SUPPORTED_VERSIONS:
            raise SchemaError(
                f"Snapshot.version: expected one of {SUPPORTED_VERSIONS}, got {value['v']}"
            )
        check_camera_id(value["cam"])
        return cls(**{name: value[key] for key, name in _FIELDS.items()})
