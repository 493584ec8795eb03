"""Reading published results and tracks: a camera's recent history, then live ones.

Results (``Result``, one per frame, from the workers) and tracks (``Tracks``, one per
frame, from the track service) are each kept in a capped stream per camera; the same
readers serve both, given a ``Feed``. In results mode aggregate, a camera's published
windows are read by ``read_aggregates``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import redis

from common.connection import denied
from common.errors import BrokerUnavailable, SchemaError
from common.keys import aggregate_stream, results_stream, tracks_stream
from common.wire import Aggregate, Result, Tracks

STREAM_FIELD = b"result"
TRACKS_FIELD = b"tracks"
AGGREGATE_FIELD = b"aggregate"  # the field of an aggregate stream's entries
BLOCK_MS = 1000
# A reader that rides outages (``follow_feed(reconnect=True)``) waits this long between
# tries, doubling up to the cap: it resumes within a second of Redis, or a new master.
RECONNECT_BACKOFF_SECONDS = (0.2, 1.0)

Message = TypeVar("Message", Result, Tracks)


@dataclass(frozen=True)
class Feed(Generic[Message]):
    """One kind of per-camera stream: its key, the entry field and the message decoder."""

    key: Callable[[str, str], str]
    field: bytes
    decode: Callable[[bytes], Message]


RESULTS: Feed[Result] = Feed(results_stream, STREAM_FIELD, Result.decode)
TRACKS: Feed[Tracks] = Feed(tracks_stream, TRACKS_FIELD, Tracks.decode)


def _decode_entries(
    feed: Feed[Message], entries: list[tuple[bytes, dict[bytes, bytes]]]
) -> Iterator[tuple[bytes, Message]]:
    for entry_id, fields in entries:
        payload = fields.get(feed.field)
        if payload is None:
            raise SchemaError(f"expected field {feed.field!r} in stream entry {entry_id!r}")
        yield entry_id, feed.decode(payload)


def read_history(
    connection: redis.Redis[bytes], prefix: str, camera_id: str, count: int | None = None
) -> list[tuple[bytes, Result]]:
    """The camera's stored results, oldest first (the last ``count`` if given)."""
    return read_feed(connection, RESULTS, prefix, camera_id, count)


def follow(
    connection: redis.Redis[bytes],
    prefix: str,
    camera_ids: list[str],
    after: dict[str, bytes] | None = None,
    block_ms: int = BLOCK_MS,
) -> Iterator[tuple[str, Result] | None]:
    """Results as they arrive (see ``follow_feed``)."""
    return follow_feed(connection, RESULTS, prefix, camera_ids, after, block_ms)


def read_feed(
    connection: redis.Redis[bytes],
    feed: Feed[Message],
    prefix: str,
    camera_id: str,
    count: int | None = None,
) -> list[tuple[bytes, Message]]:
    """The camera's stored messages, oldest first (the last ``count`` if given)."""
    key = feed.key(prefix, camera_id)
    try:
        if count is None:
            entries = connection.xrange(key)
        else:
            entries = list(reversed(connection.xrevrange(key, count=count)))
    except redis.exceptions.NoPermissionError as exc:
        raise denied(exc, connection) from None
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot read the stream of camera {camera_id!r}: {exc}") from exc
    return list(_decode_entries(feed, entries))


def follow_feed(
    connection: redis.Redis[bytes],
    feed: Feed[Message],
    prefix: str,
    camera_ids: list[str],
    after: dict[str, bytes] | None = None,
    block_ms: int = BLOCK_MS,
    reconnect: bool = False,
) -> Iterator[tuple[str, Message] | None]:
    """Messages as they arrive (after ``after`` ids, default: only new ones).

    Yields ``None`` whenever ``block_ms`` passes with nothing new, so callers can stop.
    With ``reconnect``, a lost Redis (a restart, a Sentinel failover) is waited for with
    capped backoff, yielding ``None`` meanwhile, and the feed resumes after the last
    message it yielded; else it raises ``BrokerUnavailable``.
    """
    positions = {feed.key(prefix, c): (after or {}).get(c, b"$") for c in camera_ids}
    cameras = {feed.key(prefix, c): c for c in camera_ids}
    backoff = RECONNECT_BACKOFF_SECONDS[0]
    while True:
        try:
            batches = connection.xread(positions, block=block_ms)
            backoff = RECONNECT_BACKOFF_SECONDS[0]
        except redis.exceptions.NoPermissionError as exc:
            raise denied(exc, connection) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not reconnect:
                raise BrokerUnavailable(f"cannot follow the streams: {exc}") from exc
            time.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_BACKOFF_SECONDS[1])
            yield None
            continue
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"cannot follow the streams: {exc}") from exc
        if not batches:
            yield None
            continue
        for key, entries in batches:
            name = key.decode() if isinstance(key, bytes) else str(key)
            for entry_id, message in _decode_entries(feed, entries):
                positions[name] = entry_id
                yield cameras[name], message


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
