"""The live view's long-lived responses: Server-Sent Events of a camera's results and
tracks (``XREAD BLOCK``, resumable with ``Last-Event-ID``) and an MJPEG stream of its
annotated frame. Each counts itself open in ``ferstream_web_open_streams`` and stops,
and is counted closed, the moment its viewer goes (Starlette cancels it on disconnect).

An event's id is ``<results entry id>,<tracks entry id>``: where both streams were read
up to, so a viewer that comes back (its browser sends the id) misses nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import redis.asyncio

from common.errors import FerStreamError, SchemaError
from common.keys import rendered_frame
from common.metrics import WebMetrics
from common.results import RESULTS, TRACKS
from web.demand import LIVE_INTERVAL, Demand
from web.snapshot import Snapshot

BLOCK_MS = 1000  # an XREAD's wait; a keep-alive comment follows an empty one
READ_COUNT = 100
MJPEG_POLL_SECONDS = 0.04  # how often an MJPEG stream looks for a new drawing
MJPEG_REPEAT_SECONDS = 2.0  # the last drawing again after this long (keeps proxies open)
BOUNDARY = "ferstreamframe"
OPENING = f"--{BOUNDARY}\r\n".encode()  # before the stream's first part
CLOSING = f"\r\n--{BOUNDARY}\r\n".encode()  # after every part: it is complete
_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


@dataclass(frozen=True)
class Position:
    """Where a viewer's events are: the last results and tracks entries it has."""

    results: str
    tracks: str

    @property
    def event_id(self) -> str:
        return f"{self.results},{self.tracks}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """``<results id>,<tracks id>`` as an event id carries it; ``SchemaError`` if not."""
        results, _, tracks = text.strip().partition(",")
        if not _ENTRY_ID.fullmatch(results) or not _ENTRY_ID.fullmatch(tracks):
            raise SchemaError(
                "Last-Event-ID: expected '<results id>,<tracks id>' (stream entry ids "
                f"like 1700000000000-0), got {text[:80]!r}"
            )
        return cls(results, tracks)


async def newest(client: redis.asyncio.Redis[bytes], prefix: str, camera_id: str) -> Position:
    """Where the camera's streams end now."""
    ids = []
    for feed in (RESULTS, TRACKS):
        found = await client.xrevrange(feed.key(prefix, camera_id), count=1)
        ids.append(found[0][0].decode() if found else "0-0")
    return Position(*ids)


async def events(
    client: redis.asyncio.Redis[bytes],
    prefix: str,
    camera_id: str,
    start: Position,
    metrics: WebMetrics,
) -> AsyncIterator[str]:
    """SSE text: every result (``event: result``) and tracks message (``event: tracks``)
    after ``start``, as JSON, until the viewer goes."""
    keys = {RESULTS.key(prefix, camera_id): "result", TRACKS.key(prefix, camera_id): "tracks"}
    results_key, tracks_key = list(keys)
    positions = {results_key: start.results, tracks_key: start.tracks}
    metrics.streams.labels(kind="events").inc()
    open_streams = metrics.open_streams.labels(kind="events")
    open_streams.inc()
    try:
        yield f"retry: 1000\nid: {start.event_id}\nevent: hello\ndata: {{}}\n\n"
        while True:
            replies = await client.xread(positions, block=BLOCK_MS, count=READ_COUNT)
            if not replies:
                yield ": keep-alive\n\n"
                continue
            for key, entries in replies:
                name = key.decode()
                for entry_id, fields in entries:
                    positions[name] = entry_id.decode()
                    text = _event_json(keys[name], fields)
                    if text is None:
                        continue
                    where = Position(positions[results_key], positions[tracks_key])
                    yield f"id: {where.event_id}\nevent: {keys[name]}\ndata: {text}\n\n"
    finally:
        open_streams.dec()


def _event_json(kind: str, fields: dict[bytes, bytes]) -> str | None:
    feed = RESULTS if kind == "result" else TRACKS
    payload = fields.get(feed.field)
    if payload is None:
        return None
    try:
        message = feed.decode(payload)
    except FerStreamError:
        return None  # counted by the renderer's log; a viewer just skips it
    return json.dumps(message.to_json_dict(), separators=(",", ":"))


async def read_snapshot(
    client: redis.asyncio.Redis[bytes],
    prefix: str,
    camera_id: str,
    held: Callable[[str], Snapshot | None] = lambda _camera: None,
) -> Snapshot | None:
    """A camera's annotated frame: the renderer's copy in this process if it ``held`` one,
    else the short-lived key (another renderer's)."""
    mine = held(camera_id)
    if mine is not None:
        return mine
    raw = await client.get(rendered_frame(prefix, camera_id))
    if raw is None:
        return None
    try:
        return Snapshot.decode(raw)
    except SchemaError:
        return None


async def mjpeg(
    client: redis.asyncio.Redis[bytes],
    prefix: str,
    camera_id: str,
    demand: Demand,
    metrics: WebMetrics,
    held: Callable[[str], Snapshot | None] = lambda _camera: None,
) -> AsyncIterator[bytes]:
    """``multipart/x-mixed-replace`` parts: each new drawing of the camera, and again at
    the next look (``MJPEG_POLL_SECONDS``) unless a newer one is there by then.

    A browser shows a part only once the next part's headers have arrived (Chromium
    ends a part there, not at its Content-Length or the boundary after it): sent once,
    each drawing would be shown when the next one came, a frame late, and a quiet
    camera's last drawing only at the keep-alive repeat (``MJPEG_REPEAT_SECONDS``)."""
    metrics.streams.labels(kind="mjpeg").inc()
    open_streams = metrics.open_streams.labels(kind="mjpeg")
    open_streams.inc()
    loop = asyncio.get_running_loop()
    shown: float | None = None
    sent_at = 0.0
    unclosed = False  # the last part sent was a new drawing, not yet followed by a part
    try:
        while True:
            demand.want(camera_id, LIVE_INTERVAL)
            snapshot = await read_snapshot(client, prefix, camera_id, held)
            now = loop.time()
            fresh = snapshot is not None and snapshot.rendered_at != shown
            due = fresh or unclosed or now - sent_at >= MJPEG_REPEAT_SECONDS
            if snapshot is not None and due:
                opening = OPENING if shown is None else b""
                shown, sent_at, unclosed = snapshot.rendered_at, now, fresh
                yield opening + _part(snapshot)
            await asyncio.sleep(MJPEG_POLL_SECONDS)
    finally:
        open_streams.dec()


def _part(snapshot: Snapshot) -> bytes:
    """One drawing and the boundary after it (the stream's first boundary, ``OPENING``,
    comes before its first part)."""
    head = (
        f"Content-Type: image/jpeg\r\nContent-Length: {len(snapshot.jpeg)}\r\n"
        f"X-Frame-Number: {snapshot.frame_number}\r\n"
        f"X-Published-At: {snapshot.published_at:.6f}\r\n\r\n"
    )
    return head.encode() + snapshot.jpeg + CLOSING
