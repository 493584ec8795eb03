"""Hostile wire messages: random bytes, any msgpack value, msgpack that declares more than
it holds or nests deeper than any parser's stack, and real ``Frame`` and ``Result`` maps
with fields missing, added, or replaced by values of any type.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack
from hypothesis import strategies as st

from common.wire import Box, FaceResult, Frame, Result, StageTimings
from ferstream.fuzz.images import ClaimedImage, hostile_images, real_images

# Valid camera ids come from this small pool, so that the worker's metric labels have a
# known bound; hostile ones are any text, and must never become a label.
CAMERAS = ("fuzz-cam-0", "fuzz-cam-1", "fuzz-cam-2", "fuzz-cam-3")
FRAME_KEYS = ("v", "cam", "n", "ts", "img", "w", "h", "enc", "meta")
RESULT_KEYS = ("v", "cam", "n", "ts", "faces", "t", "wid", "mid", "pub")
_INT64 = st.integers(-(2**63), 2**64 - 1)  # what msgpack can carry
# Nesting depths of raw msgpack: any, and about where Python's repr (~1000) and
# msgpack's unpacker (1024) give up.
_DEPTHS = st.one_of(st.integers(1, 5000), st.integers(960, 1030))


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        _INT64,
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=80),
        st.binary(max_size=80),
        st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=16)),
        st.builds(msgpack.Timestamp, st.integers(0, 2**34 - 1), st.integers(0, 999_999_999)),
    )


def values() -> st.SearchStrategy[Any]:
    """Any msgpack value: scalars in lists and maps, a few levels deep."""
    keys = st.one_of(st.text(max_size=16), _INT64, st.binary(max_size=8), st.none())
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=6), st.dictionaries(keys, inner, max_size=6)
        ),
        max_leaves=24,
    )


def deep_lists() -> st.SearchStrategy[Any]:
    """Lists nested up to the depth msgpack packs (~1000), often near Python's repr limit."""
    return st.one_of(st.integers(1, 1000), st.integers(950, 1000)).map(_nested_list)


def _nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def nested(depth: int, opener: bytes) -> bytes:
    """``depth`` one-element arrays (``0x91``) or maps (``0x81`` + a key) around a 0."""
    return opener * depth + b"\x00"


def overdeclared() -> st.SearchStrategy[bytes]:
    """A 32-bit array, map, str or bin header claiming up to 4 G items, then a few bytes."""
    header = st.sampled_from([b"\xdd", b"\xdf", b"\xdb", b"\xc6"])
    length = st.integers(0, 2**32 - 1).map(lambda n: n.to_bytes(4, "big"))
    return st.tuples(header, length, st.binary(max_size=32)).map(b"".join)


def mostly(
    usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``usual`` three times out of four, else ``unusual`` (so that a frame hostile in one
    field is often valid in the others, and goes deeper)."""
    return st.integers(0, 3).flatmap(lambda n: usual if n else unusual)


def camera_ids() -> st.SearchStrategy[Any]:
    """Mostly the pool; else oversized, unicode, empty or not text at all."""
    hostile = st.one_of(
        st.text(min_size=65, max_size=300),
        st.text(max_size=64).filter(lambda text: not text.isascii()),
        st.just(""),
        values(),
    )
    return mostly(st.sampled_from(CAMERAS), hostile)


def timestamps() -> st.SearchStrategy[Any]:
    """Mostly now (fresh, so that it is processed); else NaN, infinities, zero, negative,
    huge, or not a number."""
    hostile = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, -1, 0.0, -0.0, 1e308, float("nan"), float("inf")]),
        values(),
    )
    return mostly(st.builds(time.time), hostile)


def _frame_map(image: ClaimedImage, camera: Any, timestamp: Any, number: int) -> dict[Any, Any]:
    return {
        "v": 1, "cam": camera, "n": number, "ts": timestamp, "img": image.data,
        "w": image.width, "h": image.height, "enc": image.encoding, "meta": {},
    }  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, fields: dict[Any, Any], keys: tuple[str, ...]) -> dict[Any, Any]:
    """``fields`` with some keys dropped, some values replaced, some keys added."""
    fields = dict(fields)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.booleans()):
            del fields[key]
        else:
            fields[key] = draw(st.one_of(values(), deep_lists()))
    fields.update(draw(extra_keys()))
    return fields


def extra_keys() -> st.SearchStrategy[dict[Any, Any]]:
    """Keys no message has: a few, hundreds, or one of kilobytes."""
    few = st.dictionaries(st.one_of(st.text(max_size=8), _INT64), values(), max_size=3)
    many = st.integers(0, 500).map(lambda n: {f"k{i}": i for i in range(n)})
    long = st.builds(lambda key: {key: 1}, st.text(min_size=500, max_size=5000))
    return st.one_of(few, many, long)


def frame_maps() -> st.SearchStrategy[dict[Any, Any]]:
    """Frame maps as a producer sends them, from any image, camera id and capture time."""
    return st.builds(
        _frame_map,
        hostile_images(),
        camera_ids(),
        timestamps(),
        st.integers(0, 2**64 - 1),
    )


def image_frames() -> st.SearchStrategy[bytes]:
    """Frames valid in every field but their image, which is any hostile image."""
    return st.builds(
        _frame_map,
        hostile_images(),
        st.sampled_from(CAMERAS),
        st.builds(time.time),
        st.integers(0, 2**32),
    ).map(pack)


def valid_frames() -> st.SearchStrategy[bytes]:
    """Frames every check lets through: a real image, a pool camera, captured now."""
    return st.builds(
        lambda image, camera, number: Frame(
            camera_id=camera,
            frame_number=number,
            captured_at=time.time(),
            image=image.data,
            width=image.width,
            height=image.height,
            encoding=image.encoding,
        ).encode(),
        real_images(),
        st.sampled_from(CAMERAS),
        st.integers(0, 2**32),
    )


def hostile_frames() -> st.SearchStrategy[bytes]:
    """Any bytes a ``process_frame`` job could carry as its frame."""
    maps = frame_maps()
    return st.one_of(
        valid_frames(),
        image_frames(),
        maps.map(pack),
        maps.flatmap(lambda fields: mutated(fields, FRAME_KEYS)).map(pack),
        values().map(pack),
        st.binary(max_size=512),
        overdeclared(),
        st.builds(nested, _DEPTHS, st.sampled_from([b"\x91", b"\x81\xa1k"])),
    )


@st.composite
def valid_results(draw: st.DrawFn) -> bytes:
    """Results as a worker publishes them: faces with boxes, labels, probabilities."""
    faces = []
    for _ in range(draw(st.integers(0, 3))):
        weights = draw(st.lists(st.floats(0.01, 1.0), min_size=7, max_size=7))
        probabilities = tuple(weight / sum(weights) for weight in weights)
        x, y = draw(st.integers(0, 4000)), draw(st.integers(0, 4000))
        w, h = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
        faces.append(FaceResult(Box(x, y, w, h), draw(st.integers(0, 6)), probabilities))
    seconds = st.floats(0, 10)
    result = Result(
        camera_id=draw(st.sampled_from(CAMERAS)),
        frame_number=draw(st.integers(0, 2**32)),
        captured_at=time.time(),
        faces=tuple(faces),
        timings=StageTimings(*(draw(seconds) for _ in range(5))),
        worker_id="fuzz-worker",
        model_id="fuzz-model",
        published_at=time.time(),
    )
    return result.encode()


def hostile_results() -> st.SearchStrategy[bytes]:
    """Any bytes a results subscriber could receive: real results mutated, and the rest."""
    near_face = st.fixed_dictionaries(
        {
            "box": st.lists(st.integers(-2, 2000), min_size=4, max_size=4),
            "label": st.integers(-1, 8),
            "p": st.lists(st.floats(0, 1), min_size=7, max_size=7),
        }
    )
    face = st.one_of(
        near_face, st.fixed_dictionaries({"box": values(), "label": values(), "p": values()})
    )
    timings = st.one_of(
        st.fixed_dictionaries(
            {key: values() for key in ("queue_wait", "decode", "detect", "classify", "total")}
        ),
        values(),
    )
    result = st.fixed_dictionaries(
        {
            "v": st.just(1), "cam": camera_ids(), "n": _INT64, "ts": timestamps(),
            "faces": st.one_of(st.lists(face, max_size=4), values()), "t": timings,
            "wid": values(), "mid": values(), "pub": timestamps(),
        }
    )  # fmt: skip
    return st.one_of(
        valid_results(),
        result.map(pack),
        result.flatmap(lambda fields: mutated(fields, RESULT_KEYS)).map(pack),
        hostile_frames(),
    )
