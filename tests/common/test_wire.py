from __future__ import annotations

import json
import math
from typing import Any

import msgpack
import pytest

from common.errors import SchemaError
from common.wire import (
    EMOTIONS,
    WIRE_VERSION,
    Box,
    FaceResult,
    Frame,
    Result,
    StageTimings,
)

UNIFORM = (1 / 7,) * 7
HAPPY = (0.01, 0.01, 0.02, 0.9, 0.03, 0.02, 0.01)

FRAME: dict[str, Any] = {
    "camera_id": "cam-1",
    "frame_number": 7,
    "captured_at": 1_700_000_000.5,
    "image": b"\xff\xd8\xff\xe0 not really a jpeg",
    "width": 640,
    "height": 480,
}
BOX: dict[str, Any] = {"x": 10, "y": 20, "w": 30, "h": 40}
FACE: dict[str, Any] = {"box": Box(**BOX), "label": 3, "probabilities": HAPPY}
TIMINGS: dict[str, Any] = {
    "queue_wait": 0.004,
    "decode": 0.002,
    "detect": 0.010,
    "classify": 0.020,
    "total": 0.036,
}
RESULT: dict[str, Any] = {
    "camera_id": "cam-1",
    "frame_number": 7,
    "captured_at": 1_700_000_000.5,
    "faces": (FaceResult(**FACE),),
    "timings": StageTimings(**TIMINGS),
    "worker_id": "worker-a",
    "model_id": "ferstream-mnv2@abc123",
    "published_at": 1_700_000_000.58,
}


def frame_wire(**changes: Any) -> bytes:
    """A Frame message with some wire keys replaced (``None`` deletes a key)."""
    fields = msgpack.unpackb(Frame(**FRAME).encode(), raw=False)
    fields.update(changes)
    return bytes(msgpack.packb({k: v for k, v in fields.items() if v is not None}))


def result_wire(**changes: Any) -> bytes:
    fields = msgpack.unpackb(Result(**RESULT).encode(), raw=False)
    fields.update(changes)
    return bytes(msgpack.packb({k: v for k, v in fields.items() if v is not None}))


# -- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"encoding": "png", "frame_number": 0},
        {"metadata": {"source": "rtsp://cam", "fps": 9.5, "tags": ["a", "b"], "raw": b"\x00"}},
        {"camera_id": "A" * 64},
    ],
)
def test_frame_round_trip(changes: dict[str, Any]) -> None:
    frame = Frame(**{**FRAME, **changes})
    assert Frame.decode(frame.encode()) == frame


def test_frame_wire_uses_short_keys_and_bin_image() -> None:
    fields = msgpack.unpackb(Frame(**FRAME).encode(), raw=False)
    assert set(fields) == {"v", "cam", "n", "ts", "img", "w", "h", "enc", "meta"}
    assert fields["v"] == WIRE_VERSION
    assert isinstance(fields["img"], bytes)


def test_int_times_are_normalised_to_float() -> None:
    frame = Frame(**{**FRAME, "captured_at": 1_700_000_000})
    assert isinstance(frame.captured_at, float)


@pytest.mark.parametrize("faces", [(), (FaceResult(**FACE),) * 2])
def test_result_round_trip(faces: tuple[FaceResult, ...]) -> None:
    result = Result(**{**RESULT, "faces": faces})
    assert Result.decode(result.encode()) == result


def test_result_json_dict() -> None:
    data = Result(**RESULT).to_json_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["faces"] == [
        {"box": [10, 20, 30, 40], "label": 3, "emotion": "happy", "probabilities": list(HAPPY)}
    ]
    assert data["timings"]["queue_wait_ms"] == pytest.approx(4.0)
    assert data["timings"]["total_ms"] == pytest.approx(36.0)
    assert data["latency_ms"] == pytest.approx(80.0, abs=0.01)


@pytest.mark.parametrize(("label", "emotion"), list(enumerate(EMOTIONS)))
def test_emotion_follows_label(label: int, emotion: str) -> None:
    assert FaceResult(box=Box(**BOX), label=label, probabilities=UNIFORM).emotion == emotion


# -- construction errors: (class, valid fields, field, bad value, message fragment) -----

INVALID = [
    (Box, BOX, "x", -1, "Box.x: expected int >= 0, got int -1"),
    (Box, BOX, "y", "2", "Box.y: expected int >= 0, got str '2'"),
    (Box, BOX, "w", 0, "Box.w: expected int >= 1, got int 0"),
    (Box, BOX, "h", 1.5, "Box.h: expected int >= 1, got float 1.5"),
    (Frame, FRAME, "camera_id", "", "Frame.camera_id: expected str of 1..64 characters"),
    (Frame, FRAME, "camera_id", "c" * 65, "Frame.camera_id: expected str of 1..64"),
    (Frame, FRAME, "camera_id", "cam 1", "got str 'cam 1'"),
    (Frame, FRAME, "camera_id", "cam:1", "[A-Za-z0-9_.-]"),
    (Frame, FRAME, "camera_id", 1, "Frame.camera_id: expected str"),
    (Frame, FRAME, "frame_number", -1, "Frame.frame_number: expected int >= 0, got int -1"),
    (Frame, FRAME, "frame_number", True, "expected int >= 0, got bool True"),
    (Frame, FRAME, "frame_number", 2.0, "expected int >= 0, got float 2.0"),
    (Frame, FRAME, "captured_at", 0, "Frame.captured_at: expected finite float > 0, got int 0"),
    (Frame, FRAME, "captured_at", -5.0, "expected finite float > 0, got float -5.0"),
    (Frame, FRAME, "captured_at", math.nan, "expected finite float > 0, got float nan"),
    (Frame, FRAME, "captured_at", math.inf, "got float inf"),
    (Frame, FRAME, "captured_at", "now", "got str 'now'"),
    (Frame, FRAME, "image", b"", "Frame.image: expected non-empty bytes, got bytes of length 0"),
    (Frame, FRAME, "image", "jpeg", "Frame.image: expected non-empty bytes, got str"),
    (Frame, FRAME, "image", bytearray(b"x"), "got bytearray of length 1"),
    (Frame, FRAME, "width", 0, "Frame.width: expected int >= 1, got int 0"),
    (Frame, FRAME, "height", -480, "Frame.height: expected int >= 1, got int -480"),
    (Frame, FRAME, "encoding", "gif", "Frame.encoding: expected one of jpeg, png, got str 'gif'"),
    (Frame, FRAME, "metadata", ["a"], "Frame.metadata: expected dict with str keys, got list"),
    (Frame, FRAME, "metadata", {1: "a"}, "Frame.metadata: expected dict with str keys"),
    (Frame, FRAME, "metadata", {"a": object()}, "Frame.metadata: expected msgpack-encodable"),
    (Frame, FRAME, "version", 2, "Frame.version: expected a supported wire version (1), got int 2"),
    (FaceResult, FACE, "box", (1, 2, 3, 4), "FaceResult.box: expected Box, got tuple"),
    (FaceResult, FACE, "label", 7, "FaceResult.label: expected int in 0..6, got int 7"),
    (FaceResult, FACE, "label", -1, "FaceResult.label: expected int in 0..6, got int -1"),
    (FaceResult, FACE, "probabilities", list(HAPPY), "expected tuple of 7 floats in [0, 1]"),
    (FaceResult, FACE, "probabilities", HAPPY[:6], "FaceResult.probabilities: expected tuple"),
    (FaceResult, FACE, "probabilities", (0.5,) * 7, "summing to 1, got tuple (0.5"),
    (FaceResult, FACE, "probabilities", (1.5, -0.5, 0, 0, 0, 0, 0), "probabilities[1]"),
    (FaceResult, FACE, "probabilities", (1.5, 0.5, 0, 0, 0, -1, 0), "probabilities[5]"),
    (FaceResult, FACE, "probabilities", ("a",) * 7, "probabilities[0]: expected finite float"),
    (StageTimings, TIMINGS, "decode", -0.001, "StageTimings.decode: expected finite float >= 0"),
    (StageTimings, TIMINGS, "total", math.inf, "StageTimings.total: expected finite float"),
    (StageTimings, TIMINGS, "detect", None, "StageTimings.detect: expected finite float >= 0"),
    (Result, RESULT, "camera_id", "a/b", "Result.camera_id: expected str of 1..64"),
    (Result, RESULT, "frame_number", -2, "Result.frame_number: expected int >= 0"),
    (Result, RESULT, "captured_at", 0.0, "Result.captured_at: expected finite float > 0"),
    (Result, RESULT, "faces", [], "Result.faces: expected tuple of FaceResult, got list"),
    (Result, RESULT, "faces", (Box(**BOX),), "Result.faces: expected tuple of FaceResult"),
    (Result, RESULT, "timings", TIMINGS, "Result.timings: expected StageTimings, got dict"),
    (Result, RESULT, "worker_id", "", "Result.worker_id: expected non-empty str, got str ''"),
    (Result, RESULT, "model_id", 3, "Result.model_id: expected non-empty str, got int 3"),
    (Result, RESULT, "published_at", math.nan, "Result.published_at: expected finite float"),
    (Result, RESULT, "version", 0, "Result.version: expected a supported wire version (1)"),
]


@pytest.mark.parametrize(
    ("cls", "valid", "field", "bad", "fragment"),
    INVALID,
    ids=[f"{case[0].__name__}.{case[2]}={case[3]!r:.20}" for case in INVALID],
)
def test_invalid_field_is_refused(
    cls: type, valid: dict[str, Any], field: str, bad: Any, fragment: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        cls(**{**valid, field: bad})
    assert fragment in str(caught.value)


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(SchemaError) as caught:
        Frame(**{**FRAME, "encoding": "x" * 10_000})
    assert len(str(caught.value)) < 200


# -- decoding errors: (bytes, message fragment) ---------------------------------------

TRUNCATED = Frame(**FRAME).encode()[:-5]

FRAME_DECODE_ERRORS = [
    pytest.param(b"", "Frame: expected a msgpack map, got undecodable bytes", id="empty"),
    pytest.param(b"\xc1garbage", "got undecodable bytes", id="garbage"),
    pytest.param(TRUNCATED, "got undecodable bytes", id="truncated"),
    pytest.param(Frame(**FRAME).encode() + b"\x00", "undecodable bytes", id="trailing-data"),
    pytest.param(msgpack.packb([1, 2]), "Frame: expected a msgpack map, got list", id="list"),
    pytest.param(msgpack.packb(42), "Frame: expected a msgpack map, got int 42", id="int"),
    pytest.param(frame_wire(v=2), "Frame.version: expected a supported wire version (1), got int 2",
                 id="future-version"),
    pytest.param(frame_wire(v="1"), "Frame.version: expected a supported wire version",
                 id="version-str"),
    pytest.param(frame_wire(v=None), "missing ['v']", id="no-version"),
    pytest.param(frame_wire(img=None), "Frame: expected fields", id="missing-field"),
    pytest.param(frame_wire(img=None), "missing ['img']", id="missing-field-named"),
    pytest.param(frame_wire(zzz=1), "Frame: expected only fields", id="extra-field"),
    pytest.param(frame_wire(zzz=1), "got extra ['zzz']", id="extra-field-named"),
    pytest.param(frame_wire(w="640"), "Frame.width: expected int >= 1, got str '640'",
                 id="wrong-type"),
    pytest.param(frame_wire(img="text"), "Frame.image: expected non-empty bytes, got str",
                 id="image-as-str"),
    pytest.param(frame_wire(ts=None, v=None, cam=None), "missing ['v']", id="version-first"),
    pytest.param(frame_wire(v=9, zzz=1), "got int 9", id="version-before-keys"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "fragment"), FRAME_DECODE_ERRORS)
def test_frame_decode_refuses(data: bytes, fragment: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Frame.decode(data)
    assert fragment in str(caught.value)


def nested(depth: int) -> bytes:
    """``depth`` msgpack arrays, one inside the other, around a 0 (1 byte a level)."""
    return b"\x91" * depth + b"\x00"


def with_key(key: Any) -> bytes:
    """A valid Frame message plus one more key, of any msgpack type."""
    fields = msgpack.unpackb(Frame(**FRAME).encode(), raw=False)
    fields[key] = 1
    return bytes(msgpack.packb(fields, use_bin_type=True))


def nested_value(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# Found by tests/fuzz: a value nested deeper than Python's repr recursion broke the
# message (RecursionError out of the decoder), and unexpected keys went whole into it.
HOSTILE_FRAMES = [
    pytest.param(nested(1000), "Frame: expected a msgpack map, got list [[[[...]]]]",
                 id="array-1000-deep"),
    pytest.param(frame_wire(cam=nested_value(1000)), "Frame.camera_id: expected str",
                 id="camera-id-1000-deep"),
    pytest.param(frame_wire(img=nested_value(1000)), "Frame.image: expected non-empty bytes",
                 id="image-1000-deep"),
    pytest.param(frame_wire(**{f"k{i}": i for i in range(20_000)}),
                 "got extra ['k0', 'k1', 'k2', 'k3', 'k4'] and 19995 more", id="20000-extra-keys"),
    pytest.param(frame_wire(**{"x" * 1_000_000: 1}), "got extra ['xxxx", id="1-MB-key"),
    pytest.param(with_key(b"\xff" * 100_000), "got extra [b'\\xff\\xff", id="100-KB-bytes-key"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "fragment"), HOSTILE_FRAMES)
def test_hostile_frames_get_a_short_schema_error(data: bytes, fragment: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Frame.decode(data)
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("data", ["a str", None, 12, [b"x"]])
def test_decode_refuses_non_bytes(data: Any) -> None:
    with pytest.raises(SchemaError, match="Frame: expected msgpack bytes, got"):
        Frame.decode(data)


GOOD_FACE = {"box": [1, 2, 3, 4], "label": 3, "p": list(HAPPY)}

RESULT_DECODE_ERRORS = [
    pytest.param(result_wire(faces={"a": 1}), "Result.faces: expected array of face maps",
                 id="faces-map"),
    pytest.param(result_wire(faces=[[1, 2]]), "Result.faces[0]: expected a msgpack map, got list",
                 id="face-list"),
    pytest.param(result_wire(faces=[GOOD_FACE, {"box": [1, 2, 3, 4], "label": 3}]),
                 "Result.faces[1]: expected fields ['box', 'label', 'p'], missing ['p']",
                 id="face-missing-p"),
    pytest.param(result_wire(faces=[{**GOOD_FACE, "box": [1, 2, 3]}]),
                 "Result.faces[0].box: expected array of 4 ints", id="box-short"),
    pytest.param(result_wire(faces=[{**GOOD_FACE, "box": [1, 2, 0, 4]}]), "Box.w: expected int",
                 id="box-zero-width"),
    pytest.param(result_wire(faces=[{**GOOD_FACE, "p": 0.5}]),
                 "Result.faces[0].p: expected array of 7 floats", id="p-scalar"),
    pytest.param(result_wire(faces=[{**GOOD_FACE, "label": 9}]), "FaceResult.label", id="label"),
    pytest.param(result_wire(t={"total": 0.1}), "Result.timings: expected fields", id="timings"),
    pytest.param(result_wire(t=[1, 2, 3, 4, 5]), "Result.timings: expected a msgpack map",
                 id="timings-list"),
    pytest.param(result_wire(pub="soon"), "Result.published_at: expected finite float > 0",
                 id="published-at"),
    pytest.param(result_wire(wid=None), "missing ['wid']", id="missing-worker"),
    pytest.param(result_wire(v=3), "Result.version: expected a supported wire version (1), got",
                 id="future-version"),
    pytest.param(Frame(**FRAME).encode(), "Result: expected fields", id="a-frame"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "fragment"), RESULT_DECODE_ERRORS)
def test_result_decode_refuses(data: bytes, fragment: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Result.decode(data)
    assert fragment in str(caught.value)
