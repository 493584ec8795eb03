"""The ``Tracks`` message: round trip, strict decoding, and what a bad one is told."""

from __future__ import annotations

import msgpack
import pytest

from common.errors import SchemaError
from common.wire import Box, TrackedFace, Tracks

HAPPY = (0.02, 0.02, 0.02, 0.86, 0.04, 0.02, 0.02)


def tracked(**changes: object) -> TrackedFace:
    fields: dict[str, object] = {
        "track_id": "0a1b2c3d",
        "box": Box(10, 20, 60, 60),
        "seen": True,
        "raw": HAPPY,
        "smoothed": HAPPY,
        "label": 3,
        "first_seen": 100.0,
        "last_seen": 101.5,
        "hits": 12,
    }
    fields.update(changes)
    return TrackedFace(**fields)  # type: ignore[arg-type]


def test_tracks_round_trip_with_uncertain_and_coasting_faces() -> None:
    message = Tracks(
        "cam-1",
        42,
        101.5,
        (tracked(), tracked(track_id="ffff0000", seen=False, raw=None, label=None)),
        101.6,
    )
    assert Tracks.decode(message.encode()) == message
    view = message.to_json_dict()
    assert view["tracks"][0]["emotion"] == "happy" and view["tracks"][0]["age_s"] == 1.5
    assert view["tracks"][1]["emotion"] == "uncertain" and view["tracks"][1]["raw"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"track_id": "person-7"}, "track_id"),
        ({"hits": 0}, "hits"),
        ({"label": 9}, "label"),
        ({"smoothed": (0.5, 0.5)}, "smoothed"),
        ({"last_seen": 99.0}, "last_seen"),
        ({"seen": 1}, "seen"),
    ],
)
def test_a_bad_track_is_refused_naming_its_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(SchemaError, match=field):
        tracked(**changes)


def test_decoding_refuses_extra_and_missing_keys() -> None:
    good = msgpack.unpackb(Tracks("cam", 1, 1.0, (tracked(),), 2.0).encode())
    extra = dict(good, embedding=[0.1] * 128)  # nothing that identifies a face travels
    with pytest.raises(SchemaError, match="extra"):
        Tracks.decode(msgpack.packb(extra))
    missing = dict(good)
    del missing["tr"][0]["id"]
    with pytest.raises(SchemaError, match="missing"):
        Tracks.decode(msgpack.packb(missing))
