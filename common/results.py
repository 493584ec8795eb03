"""Reading published results: a camera's recent history from its stream, then live ones;
in results mode aggregate, its published windows (``read_aggregates``)."""

from __future__ import annotations

from collections.abc import Iterator

import redis

from common.errors import BrokerUnavailable, SchemaError
from common.keys import aggregate_stream, results_stream
from common.wire import Aggregate, Result

STREAM_FIELD = b"result"
AGGREGATE_FIELD = b"aggregate"  # the field of an aggregate stream's entries
BLOCK_MS = 1000


def _decode_entries(
    entries: list[tuple[bytes, dict[bytes, bytes]]],
) -> Iterator[tuple[bytes, Result]]:
    for entry_id, fields in entries:
        payload = fields.get(STREAM_FIELD)
        if payload is None:
            raise SchemaError(f"expected field {STREAM_FIELD!r} in stream entry {entry_id!r}")
        yield entry_id, Result.decode(payload)


def read_history(
    connection: redis.Redis[bytes], prefix: str, camera_id: str, count: int | None = None
) -> list[tuple[bytes, Result]]:
    """The camera's stored results, oldest first (the last ``count`` if given)."""
    key = results_stream(prefix, camera_id)
    try:
        if count is None:
            entries = connection.xrange(key)
        else:
            entries = list(reversed(connection.xrevrange(key, count=count)))
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot read results of camera {camera_id!r}: {exc}") from exc
    return list(_decode_entries(entries))


def follow(
    connection: redis.Redis[bytes],
    prefix: str,
    camera_ids: list[str],
    after: dict[str, bytes] | None = None,
    block_ms: int = BLOCK_MS,
) -> Iterator[tuple[str, Result] | None]:
    """Results as they arrive (after ``after`` ids, default: only new ones).

    Yields ``None`` whenever ``block_ms`` passes with nothing new, so callers can stop.
    """
    positions = {results_stream(prefix, c): (after or {}).get(c, b"$") for c in camera_ids}
    cameras = {results_stream(prefix, c): c for c in camera_ids}
    while True:
        try:
            batches = connection.xread(positions, block=block_ms)
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"cannot follow results: {exc}") from exc
        if not batches:
            yield None
            continue
        for key, entries in batches:
            key = key if isinstance(key, bytes) else str(key).encode()
            name = key.decode()
            for entry_id, result in _decode_entries(entries):
                positions[name] = entry_id
                yield cameras[name], result


def read_aggregates(
    connection: redis.Redis[bytes], prefix: str, camera_id: str
) -> list[tuple[bytes, Aggregate]]:
    """The camera's stored aggregate windows, oldest first."""
    try:
        entries = connection.xrange(aggregate_stream(prefix, camera_id))
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot read aggregates of camera {camera_id!r}: {exc}") from exc
    found = []
    for entry_id, fields in entries:
        payload = fields.get(AGGREGATE_FIELD)
        if payload is None:
            raise SchemaError(f"expected field {AGGREGATE_FIELD!r} in stream entry {entry_id!r}")
        found.append((entry_id, Aggregate.decode(payload)))
    return found
