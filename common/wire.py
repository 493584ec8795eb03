"""The wire contract: versioned msgpack messages that cross Redis.

Every message is a msgpack map with short string keys, packed with ``use_bin_type=True``
(bytes travel as msgpack ``bin``, text as ``str``). All keys are required and no other
keys are allowed. Decoding checks the version first, then the keys, then every value,
and raises :class:`~common.errors.SchemaError` naming the field, what was expected and
what arrived. Nothing here is ever pickled.

``Frame`` (producer -> worker, the argument of the RQ job)

=====  =============  =========  ==================================================
key    field          msgpack    constraint
=====  =============  =========  ==================================================
v      version        int        in ``SUPPORTED_VERSIONS``
cam    camera_id      str        1..64 characters of ``[A-Za-z0-9_.-]``
n      frame_number   int        >= 0, counts up per camera
ts     captured_at    float      unix seconds, finite, > 0
img    image          bin        non-empty encoded image
w      width          int        > 0, pixels
h      height         int        > 0, pixels
enc    encoding       str        ``"jpeg"`` or ``"png"``
meta   metadata       map        str keys, msgpack values (free-form, small)
=====  =============  =========  ==================================================

``Result`` (worker -> pub/sub channel and stream of the camera, see ``common.keys``)

=====  =============  =========  ==================================================
v      version        int        in ``SUPPORTED_VERSIONS``
cam    camera_id      str        as in ``Frame``
n      frame_number   int        the frame's number
ts     captured_at    float      the frame's capture time, unix seconds
faces  faces          array      of maps ``{"box": [x, y, w, h], "label": int, "p": [7 floats]}``
t      timings        map        ``queue_wait``, ``decode``, ``detect``, ``classify``,
                                 ``total``: seconds, finite, >= 0
wid    worker_id      str        non-empty
mid    model_id       str        non-empty
pub    published_at   float      unix seconds when the worker published, finite, > 0
=====  =============  =========  ==================================================

``Tracks`` (track service -> tracks channel and stream of the camera, see ``common.keys``)

=====  =============  =========  ==================================================
v      version        int        in ``SUPPORTED_VERSIONS``
cam    camera_id      str        as in ``Frame``
n      frame_number   int        the frame the tracks are as of
ts     captured_at    float      that frame's capture time, unix seconds
tr     tracks         array      of track maps, below
pub    published_at   float      unix seconds when the track service published
=====  =============  =========  ==================================================

A track map: ``id`` str (8 hex digits, random, this camera only, never reused),
``box`` [x, y, w, h] (the detection, or the predicted box while ``seen`` is false),
``seen`` bool, ``raw`` [7 floats] or nil (this frame's probabilities when seen), ``sm``
[7 floats] (smoothed), ``label`` int or nil (the shown class; nil: uncertain),
``first`` and ``last`` floats (first and last seen, unix seconds), ``hits`` int >= 1.

``Aggregate`` (worker -> pub/sub channel and stream of the camera, results mode aggregate)

=====  =============  =========  ==================================================
v      version        int        in ``SUPPORTED_VERSIONS``
cam    camera_id      str        as in ``Frame``
start  start          int        the window's first second, unix seconds, > 0
end    end            int        the second after the window, > start
faces  faces          int        faces seen in the window (at least the minimum k)
n      counts         array      faces per emotion, 7 ints >= 0 in ``EMOTIONS`` order,
                                 summing to ``faces``
pub    published_at   float      unix seconds when the window was published, > 0
=====  =============  =========  ==================================================

Face boxes are pixels of the frame as sent (x, y >= 0; w, h > 0). ``label`` indexes
``EMOTIONS``; ``p`` holds one probability per emotion, in [0, 1], summing to 1 +- 1e-3.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import msgpack

from common.errors import SchemaError, brief, describe

WIRE_VERSION = 1
SUPPORTED_VERSIONS = (1,)
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
ENCODINGS = ("jpeg", "png")
PROBABILITY_TOLERANCE = 1e-3
MAX_KEYS_SHOWN = 5  # of the unexpected keys of a map, in an error message

_CAMERA_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# wire key -> dataclass field
_FRAME_FIELDS = {
    "v": "version", "cam": "camera_id", "n": "frame_number", "ts": "captured_at",
    "img": "image", "w": "width", "h": "height", "enc": "encoding", "meta": "metadata",
}  # fmt: skip
_RESULT_FIELDS = {
    "v": "version", "cam": "camera_id", "n": "frame_number", "ts": "captured_at",
    "faces": "faces", "t": "timings", "wid": "worker_id", "mid": "model_id", "pub": "published_at",
}  # fmt: skip
_TRACKS_FIELDS = {
    "v": "version", "cam": "camera_id", "n": "frame_number", "ts": "captured_at",
    "tr": "tracks", "pub": "published_at",
}  # fmt: skip
_TRACK_FIELDS = {
    "id": "track_id", "box": "box", "seen": "seen", "raw": "raw", "sm": "smoothed",
    "label": "label", "first": "first_seen", "last": "last_seen", "hits": "hits",
}  # fmt: skip
_TRACK_ID = re.compile(r"[0-9a-f]{8}")
_AGGREGATE_FIELDS = {
    "v": "version", "cam": "camera_id", "start": "start", "end": "end", "faces": "faces",
    "n": "counts", "pub": "published_at",
}  # fmt: skip
_FACE_KEYS = frozenset({"box", "label", "p"})
_TIMING_KEYS = ("queue_wait", "decode", "detect", "classify", "total")


# -- checks: each returns the value (normalised) or raises SchemaError -----------------


def _fail(where: str, expected: str, value: Any) -> SchemaError:
    return SchemaError(f"{where}: expected {expected}, got {describe(value)}")


def _int(where: str, value: Any, low: int, high: int | None = None) -> int:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        expected = f"int in {low}..{high}" if high is not None else f"int >= {low}"
        raise _fail(where, expected, value)
    return int(value)


def _float(where: str, value: Any, *, positive: bool) -> float:
    expected = "finite float > 0" if positive else "finite float >= 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, expected, value)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise _fail(where, expected, value)
    return number


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, "non-empty str", value)
    return value


def _camera_id(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _CAMERA_ID.fullmatch(value):
        raise _fail(where, "str of 1..64 characters from [A-Za-z0-9_.-]", value)
    return value


def check_camera_id(value: str) -> str:
    """``value`` if it is a valid camera id (``SchemaError`` if not), as a metric label."""
    return _camera_id("camera_id", value)


def _version(where: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise _fail(f"{where}.version", f"a supported wire version ({supported})", value)
    return int(value)


def _metadata(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _fail(where, "dict with str keys", value)
    try:
        msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _fail(where, f"msgpack-encodable values ({exc})", value) from exc
    return value


def _map(where: str, value: Any, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "a msgpack map", value)
    missing = sorted(str(k) for k in keys - value.keys())
    if missing:
        raise SchemaError(f"{where}: expected fields {sorted(keys)}, missing {missing}")
    if value.keys() - keys:
        extra = _extra_keys(value, keys)
        raise SchemaError(f"{where}: expected only fields {sorted(keys)}, got extra {extra}")
    return value


def _extra_keys(value: dict[Any, Any], keys: frozenset[str]) -> str:
    """The first few keys of ``value`` not in ``keys``, briefly, and how many more (a
    hostile map may have thousands, or keys of megabytes)."""
    extra = (key for key in value if key not in keys)
    shown = [brief(key) for key in itertools.islice(extra, MAX_KEYS_SHOWN)]
    more = sum(1 for _ in extra)
    return f"[{', '.join(shown)}]" + (f" and {more} more" if more else "")


def _tuple_of(where: str, value: Any, kind: type) -> None:
    if not isinstance(value, tuple) or not all(isinstance(item, kind) for item in value):
        raise _fail(where, f"tuple of {kind.__name__}", value)


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass in __post_init__


# -- packing --------------------------------------------------------------------------


def _pack(fields: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def _unpack(where: str, data: Any, keys: frozenset[str]) -> dict[str, Any]:
    """Bytes -> checked top-level map; the version is checked before the keys."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _fail(where, "msgpack bytes", data)
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SchemaError(
            f"{where}: expected a msgpack map, got undecodable bytes ({exc})"
        ) from exc
    if not isinstance(value, dict):
        raise _fail(where, "a msgpack map", value)
    if "v" not in value:
        raise SchemaError(f"{where}: expected fields {sorted(keys)}, missing ['v']")
    _version(where, value["v"])
    return _map(where, value, keys)


# -- messages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A face's bounding box in frame pixels."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        _int("Box.x", self.x, 0)
        _int("Box.y", self.y, 0)
        _int("Box.w", self.w, 1)
        _int("Box.h", self.h, 1)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True)
class Frame:
    """One encoded camera frame, as a producer sends it."""

    camera_id: str
    frame_number: int
    captured_at: float
    image: bytes
    width: int
    height: int
    encoding: str = "jpeg"
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    version: int = WIRE_VERSION

    def __post_init__(self) -> None:
        _version("Frame", self.version)
        _camera_id("Frame.camera_id", self.camera_id)
        _int("Frame.frame_number", self.frame_number, 0)
        _set(self, "captured_at", _float("Frame.captured_at", self.captured_at, positive=True))
        if not isinstance(self.image, bytes) or not self.image:
            raise _fail("Frame.image", "non-empty bytes", self.image)
        _int("Frame.width", self.width, 1)
        _int("Frame.height", self.height, 1)
        if not isinstance(self.encoding, str) or self.encoding not in ENCODINGS:
            raise _fail("Frame.encoding", f"one of {', '.join(ENCODINGS)}", self.encoding)
        _metadata("Frame.metadata", self.metadata)

    def encode(self) -> bytes:
        return _pack({key: getattr(self, name) for key, name in _FRAME_FIELDS.items()})

    @classmethod
    def decode(cls, data: bytes) -> Frame:
        m = _unpack("Frame", data, frozenset(_FRAME_FIELDS))
        return cls(**{name: m[key] for key, name in _FRAME_FIELDS.items()})


@dataclass(frozen=True)
class FaceResult:
    """One detected face and its emotion probabilities, in ``EMOTIONS`` order."""

    box: Box
    label: int
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.box, Box):
            raise _fail("FaceResult.box", "Box", self.box)
        _int("FaceResult.label", self.label, 0, len(EMOTIONS) - 1)
        _set(self, "probabilities", _probabilities("FaceResult.probabilities", self.probabilities))

    @property
    def emotion(self) -> str:
        return EMOTIONS[self.label]

    def to_wire(self) -> dict[str, Any]:
        return {"box": self.box.as_list(), "label": self.label, "p": list(self.probabilities)}

    @classmethod
    def from_wire(cls, where: str, value: Any) -> FaceResult:
        m = _map(where, value, _FACE_KEYS)
        box = m["box"]
        if not isinstance(box, list) or len(box) != 4:
            raise _fail(f"{where}.box", "array of 4 ints [x, y, w, h]", box)
        probabilities = m["p"]
        if not isinstance(probabilities, list):
            raise _fail(f"{where}.p", f"array of {len(EMOTIONS)} floats", probabilities)
        return cls(box=Box(*box), label=m["label"], probabilities=tuple(probabilities))


def _probabilities(where: str, value: Any) -> tuple[float, ...]:
    expected = f"tuple of {len(EMOTIONS)} floats in [0, 1] summing to 1"
    if not isinstance(value, tuple) or len(value) != len(EMOTIONS):
        raise _fail(where, expected, value)
    numbers = tuple(_float(f"{where}[{i}]", p, positive=False) for i, p in enumerate(value))
    if any(p > 1.0 for p in numbers) or abs(sum(numbers) - 1.0) > PROBABILITY_TOLERANCE:
        raise _fail(where, expected, value)
    return numbers


@dataclass(frozen=True)
class StageTimings:
    """Seconds spent in each stage of handling one frame."""

    queue_wait: float
    decode: float
    detect: float
    classify: float
    total: float

    def __post_init__(self) -> None:
        for name in _TIMING_KEYS:
            _set(self, name, _float(f"StageTimings.{name}", getattr(self, name), positive=False))

    def to_wire(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in _TIMING_KEYS}

    @classmethod
    def from_wire(cls, where: str, value: Any) -> StageTimings:
        return cls(**_map(where, value, frozenset(_TIMING_KEYS)))


@dataclass(frozen=True)
class Result:
    """What a worker publishes for one frame."""

    camera_id: str
    frame_number: int
    captured_at: float
    faces: tuple[FaceResult, ...]
    timings: StageTimings
    worker_id: str
    model_id: str
    published_at: float
    version: int = WIRE_VERSION

    def __post_init__(self) -> None:
        _version("Result", self.version)
        _camera_id("Result.camera_id", self.camera_id)
        _int("Result.frame_number", self.frame_number, 0)
        _set(self, "captured_at", _float("Result.captured_at", self.captured_at, positive=True))
        _tuple_of("Result.faces", self.faces, FaceResult)
        if not isinstance(self.timings, StageTimings):
            raise _fail("Result.timings", "StageTimings", self.timings)
        _text("Result.worker_id", self.worker_id)
        _text("Result.model_id", self.model_id)
        _set(self, "published_at", _float("Result.published_at", self.published_at, positive=True))

    @property
    def latency(self) -> float:
        """Seconds from capture to publication (clocks of two machines may differ)."""
        return self.published_at - self.captured_at

    def encode(self) -> bytes:
        fields = {key: getattr(self, name) for key, name in _RESULT_FIELDS.items()}
        fields["faces"] = [face.to_wire() for face in self.faces]
        fields["t"] = self.timings.to_wire()
        return _pack(fields)

    @classmethod
    def decode(cls, data: bytes) -> Result:
        m = _unpack("Result", data, frozenset(_RESULT_FIELDS))
        if not isinstance(m["faces"], list):
            raise _fail("Result.faces", "array of face maps", m["faces"])
        m["faces"] = tuple(
            FaceResult.from_wire(f"Result.faces[{i}]", f) for i, f in enumerate(m["faces"])
        )
        m["t"] = StageTimings.from_wire("Result.timings", m["t"])
        return cls(**{name: m[key] for key, name in _RESULT_FIELDS.items()})

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-able view for dashboards and logs; durations in milliseconds."""
        return {
            "version": self.version,
            "camera_id": self.camera_id,
            "frame_number": self.frame_number,
            "captured_at": self.captured_at,
            "published_at": self.published_at,
            "latency_ms": self.latency * 1000.0,
            "worker_id": self.worker_id,
            "model_id": self.model_id,
            "faces": [
                {
                    "box": face.box.as_list(),
                    "label": face.label,
                    "emotion": face.emotion,
                    "probabilities": list(face.probabilities),
                }
                for face in self.faces
            ],
            "timings": {
                f"{name}_ms": getattr(self.timings, name) * 1000.0 for name in _TIMING_KEYS
            },
        }


@dataclass(frozen=True)
class TrackedFace:
    """One track of a camera as of one frame (see the ``Tracks`` table above)."""

    track_id: str
    box: Box
    seen: bool
    raw: tuple[float, ...] | None
    smoothed: tuple[float, ...]
    label: int | None
    first_seen: float
    last_seen: float
    hits: int

    def __post_init__(self) -> None:
        if not isinstance(self.track_id, str) or not _TRACK_ID.fullmatch(self.track_id):
            raise _fail("TrackedFace.track_id", "8 lower-case hex digits", self.track_id)
        if not isinstance(self.box, Box):
            raise _fail("TrackedFace.box", "Box", self.box)
        if not isinstance(self.seen, bool):
            raise _fail("TrackedFace.seen", "bool", self.seen)
        if self.raw is not None:
            _set(self, "raw", _probabilities("TrackedFace.raw", self.raw))
        _set(self, "smoothed", _probabilities("TrackedFace.smoothed", self.smoothed))
        if self.label is not None:
            _int("TrackedFace.label", self.label, 0, len(EMOTIONS) - 1)
        first = _float("TrackedFace.first_seen", self.first_seen, positive=True)
        last = _float("TrackedFace.last_seen", self.last_seen, positive=True)
        if last < first:
            raise _fail("TrackedFace.last_seen", f"a time >= first_seen {first}", last)
        _int("TrackedFace.hits", self.hits, 1)

    @property
    def emotion(self) -> str | None:
        return None if self.label is None else EMOTIONS[self.label]

    @property
    def age(self) -> float:
        return self.last_seen - self.first_seen

    def to_wire(self) -> dict[str, Any]:
        fields = {key: getattr(self, name) for key, name in _TRACK_FIELDS.items()}
        fields["box"] = self.box.as_list()
        fields["raw"] = None if self.raw is None else list(self.raw)
        fields["sm"] = list(self.smoothed)
        return fields

    @classmethod
    def from_wire(cls, where: str, value: Any) -> TrackedFace:
        m = _map(where, value, frozenset(_TRACK_FIELDS))
        box = m["box"]
        if not isinstance(box, list) or len(box) != 4:
            raise _fail(f"{where}.box", "array of 4 ints [x, y, w, h]", box)
        m["box"] = Box(*box)
        for key in ("raw", "sm"):
            if m[key] is not None and not isinstance(m[key], list):
                raise _fail(f"{where}.{key}", f"array of {len(EMOTIONS)} floats", m[key])
        m["raw"] = None if m["raw"] is None else tuple(m["raw"])
        m["sm"] = tuple(m["sm"]) if m["sm"] is not None else m["sm"]
        return cls(**{name: m[key] for key, name in _TRACK_FIELDS.items()})


@dataclass(frozen=True)
class Tracks:
    """What the track service publishes for one frame of a camera: its confirmed tracks."""

    camera_id: str
    frame_number: int
    captured_at: float
    tracks: tuple[TrackedFace, ...]
    published_at: float
    version: int = WIRE_VERSION

    def __post_init__(self) -> None:
        _version("Tracks", self.version)
        _camera_id("Tracks.camera_id", self.camera_id)
        _int("Tracks.frame_number", self.frame_number, 0)
        _set(self, "captured_at", _float("Tracks.captured_at", self.captured_at, positive=True))
        _tuple_of("Tracks.tracks", self.tracks, TrackedFace)
        _set(self, "published_at", _float("Tracks.published_at", self.published_at, positive=True))

    def encode(self) -> bytes:
        fields = {key: getattr(self, name) for key, name in _TRACKS_FIELDS.items()}
        fields["tr"] = [track.to_wire() for track in self.tracks]
        return _pack(fields)

    @classmethod
    def decode(cls, data: bytes) -> Tracks:
        m = _unpack("Tracks", data, frozenset(_TRACKS_FIELDS))
        if not isinstance(m["tr"], list):
            raise _fail("Tracks.tracks", "array of track maps", m["tr"])
        m["tr"] = tuple(
            TrackedFace.from_wire(f"Tracks.tracks[{i}]", t) for i, t in enumerate(m["tr"])
        )
        return cls(**{name: m[key] for key, name in _TRACKS_FIELDS.items()})

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-able view for ``ferstream results --tracks`` and the live view."""
        return {
            "version": self.version,
            "camera_id": self.camera_id,
            "frame_number": self.frame_number,
            "captured_at": self.captured_at,
            "published_at": self.published_at,
            "tracks": [
                {
                    "id": t.track_id,
                    "box": t.box.as_list(),
                    "seen": t.seen,
                    "emotion": t.emotion or "uncertain",
                    "label": t.label,
                    "raw": None if t.raw is None else list(t.raw),
                    "smoothed": list(t.smoothed),
                    "age_s": t.age,
                    "first_seen": t.first_seen,
                    "last_seen": t.last_seen,
                    "hits": t.hits,
                }
                for t in self.tracks
            ],
        }


@dataclass(frozen=True)
class Aggregate:
    """What a worker publishes for one camera's closed window (results mode aggregate):
    how many faces showed each emotion, never which face did."""

    camera_id: str
    start: int
    end: int
    faces: int
    counts: tuple[int, ...]
    published_at: float
    version: int = WIRE_VERSION

    def __post_init__(self) -> None:
        _version("Aggregate", self.version)
        _camera_id("Aggregate.camera_id", self.camera_id)
        _int("Aggregate.start", self.start, 1)
        _int("Aggregate.end", self.end, self.start + 1)
        _int("Aggregate.faces", self.faces, 0)
        counts = self.counts
        expected = f"{len(EMOTIONS)} ints >= 0 summing to faces={self.faces}"
        if not isinstance(counts, tuple | list) or len(counts) != len(EMOTIONS):
            raise _fail("Aggregate.counts", expected, counts)
        checked = tuple(_int(f"Aggregate.counts[{i}]", c, 0) for i, c in enumerate(counts))
        _set(self, "counts", checked)
        if sum(self.counts) != self.faces:
            raise _fail("Aggregate.counts", expected, counts)
        _set(
            self, "published_at", _float("Aggregate.published_at", self.published_at, positive=True)
        )

    def encode(self) -> bytes:
        fields = {key: getattr(self, name) for key, name in _AGGREGATE_FIELDS.items()}
        fields["n"] = list(self.counts)
        return _pack(fields)

    @classmethod
    def decode(cls, data: bytes) -> Aggregate:
        m = _unpack("Aggregate", data, frozenset(_AGGREGATE_FIELDS))
        return cls(**{name: m[key] for key, name in _AGGREGATE_FIELDS.items()})

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-able view: the window and its emotion counts by name."""
        return {
            "camera_id": self.camera_id,
            "start": self.start,
            "end": self.end,
            "faces": self.faces,
            "emotions": dict(zip(EMOTIONS, self.counts, strict=True)),
            "published_at": self.published_at,
        }
