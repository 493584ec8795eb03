"""The annotated frame's message: what is written is what is read; bad bytes fail clearly."""

from __future__ import annotations

import msgpack
import pytest

from common.errors import SchemaError
from web.snapshot import Snapshot

SNAPSHOT = Snapshot("cam-1", 7, 1.5e9, 1.5e9 + 0.1, 1.5e9 + 0.2, 2, False, b"\xff\xd8jpeg")


def test_a_snapshot_survives_the_round_trip() -> None:
    assert Snapshot.decode(SNAPSHOT.encode()) == SNAPSHOT
    stale = SNAPSHOT.marked_stale(b"other")
    assert stale.stale and stale.jpeg == b"other" and stale.frame_number == 7


def _packed(**changes: object) -> bytes:
    fields = msgpack.unpackb(SNAPSHOT.encode())
    fields.update(changes)
    return bytes(msgpack.packb(fields, use_bin_type=True))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xc1", "undecodable"),
        (msgpack.packb([1, 2]), "expected fields"),
        (_packed(stale=1), "stale: expected bool"),
        (_packed(n=True), "frame_number: expected int"),
        (_packed(jpg="text"), "jpeg: expected bytes"),
        (_packed(v=99), "version"),
        (_packed(cam="no spaces allowed"), "camera_id"),
    ],
)
def test_bad_snapshots_are_refused_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Snapshot.decode(data)
