"""The renderer: one reader of every camera's results and tracks for the whole web
service. It keeps each camera's figures (``web.stats``) and, for the cameras someone
watches (``web.demand``), draws the newest result on the camera's newest frame once and
leaves it in a short-lived key (``web.snapshot``) that every viewer reads (this
process's own viewers from its copy in memory, ``snapshot``: the same bytes, no round
trip; any other reader, such as another replica, from the key). No worker
does any of this: the frame is the one its producer keeps (``common.keys.latest_frame``).

With tracks (``ferstream track``) the drawing follows them: each new ``Tracks`` message
is drawn with its frame's result, so faces carry their track id and smoothed label, and
each tracked box is moved along its track to where its face is in the newer frame it is
drawn on (``web.motion``). If the frame is gone (its key expired: the producer stopped)
the last drawing stays, marked stale; so does a camera whose results stopped for
``web_stale_seconds``. Under strict privacy no frame is kept: boxes and labels are drawn
on a grey canvas.

In results mode aggregate there is no face result to draw: the renderer follows each
camera's published windows instead and draws the newest one's emotion mix as bars, on
grey, never on the frame (``web.drawing.window_mix``); the drawing is marked stale when
no window came for a window's length and ``web_stale_seconds`` more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from common.accounting import counts_from
from common.connection import ride_through
from common.errors import FerStreamError
from common.keys import aggregate_stream, cameras_set, counts_hash, latest_frame, rendered_frame
from common.metrics import WebMetrics
from common.results import AGGREGATE_FIELD, RESULTS, TRACKS
from common.settings import Settings
from common.wire import Aggregate, Frame, Result, Tracks
from web import drawing
from web.demand import LIVE_INTERVAL, Demand
from web.motion import TrackMotion, moved
from web.snapshot import Snapshot
from web.stats import CameraStats

log = logging.getLogger(__name__)

BLOCK_MS = 100
READ_EVERY = 0.02  # seconds between reads at the most (<= 20 ms on a frame's way)
CAMERAS_EVERY = 2.0  # seconds between looks for new cameras
SWEEP_EVERY = 1.0  # seconds between stale checks and counter reads
SEED_RESULTS = 50  # of a camera found, read back for its figures and first drawing
KEPT_RESULTS = 32  # per camera, to find the result a late Tracks message is about
TRACKS_LIVE_SECONDS = 2.0  # tracks this recent: draw from tracks, not bare results


@dataclass
class CameraView:
    """What the renderer holds for one camera."""

    stats: CameraStats
    results: deque[Result] = field(default_factory=lambda: deque(maxlen=KEPT_RESULTS))
    tracks: Tracks | None = None
    tracks_at: float = 0.0  # when the newest Tracks was published (unix seconds)
    motion: TrackMotion = field(default_factory=TrackMotion)  # its tracks' velocities
    window: Aggregate | None = None  # the newest published window (results mode aggregate)
    dirty: bool = False  # something new to draw
    drawn: tuple[int, int] | None = None  # (result frame, tracks frame) last drawn
    drawn_at: float = 0.0  # monotonic
    snapshot: Snapshot | None = None


class Renderer:
    """Follows every camera; ``run`` in a thread, read ``summaries`` from any thread."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        settings: Settings,
        metrics: WebMetrics,
        demand: Demand,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.metrics = metrics
        self.demand = demand
        self.clock = clock
        self.prefix = settings.key_prefix
        self._lock = threading.Lock()
        self._views: dict[str, CameraView] = {}
        self._positions: dict[str, bytes] = {}  # stream key -> last id read
        self._cameras_at = self._swept_at = self._read_at = float("-inf")

    # -- what the web service reads ------------------------------------------------

    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._views)

    def snapshot(self, camera_id: str) -> Snapshot | None:
        """This renderer's latest drawing of ``camera_id``, while its key would live: the
        same bytes as ``common.keys.rendered_frame`` holds, without a round trip."""
        view = self._views.get(camera_id)
        found = None if view is None else view.snapshot
        if (
            found is None
            or self.clock() - found.rendered_at > self.settings.web_render_ttl_ms / 1000
        ):
            return None
        return found

    def summaries(self) -> list[dict[str, Any]]:
        """Every camera's tile figures, now."""
        now = self.clock()
        with self._lock:
            return [self._views[c].stats.summary(now) for c in sorted(self._views)]

    # -- the loop --------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set, riding through Redis outages."""
        ride_through(stop, self.step)

    def step(self, block_ms: int = BLOCK_MS) -> int:
        """One round: new cameras, new results and tracks, drawings due; drawings made."""
        now = time.monotonic()
        if now - self._cameras_at >= CAMERAS_EVERY:
            self._discover()
            self._cameras_at = now
        if not self._positions:
            time.sleep(block_ms / 1000.0)
        else:
            self._read(block_ms)
        if now - self._swept_at >= SWEEP_EVERY:
            self._sweep()
            self._swept_at = now
        return self._draw_windows_due() if self.settings.aggregating else self._draw_due()

    def _discover(self) -> None:
        members = self.connection.smembers(cameras_set(self.prefix))
        for camera_id in sorted(m.decode() for m in members):
            if camera_id not in self._views:
                self._start(camera_id)

    def _start(self, camera_id: str) -> None:
        """A new camera: its recent results seed its figures and its first drawing."""
        view = CameraView(CameraStats(camera_id))
        results, tracks = RESULTS.key(self.prefix, camera_id), TRACKS.key(self.prefix, camera_id)
        seeds: list[tuple[str, int, Callable[[dict[bytes, bytes]], None]]] = [
            (results, SEED_RESULTS, lambda f: self._take(view, False, f)),
            (tracks, 1, lambda f: self._take(view, True, f)),
        ]
        if self.settings.aggregating:
            key = aggregate_stream(self.prefix, camera_id)
            seeds.append((key, 1, lambda f: self._take_window(view, f)))
        for key, count, take in seeds:
            newest = self.connection.xrevrange(key, count=count)
            self._positions[key] = bytes(newest[0][0]) if newest else b"0-0"
            for _entry_id, fields in reversed(newest):
                take(fields)
        with self._lock:
            self._views[camera_id] = view

    def _read(self, block_ms: int) -> None:
        wait = READ_EVERY - (time.monotonic() - self._read_at)
        if wait > 0:  # a few results per read, not one read per result
            time.sleep(wait)
        self._read_at = time.monotonic()
        replies = self.connection.xread(self._positions, block=block_ms, count=200)
        for key, entries in replies or []:
            name = key.decode() if isinstance(key, bytes) else str(key)
            self._positions[name] = bytes(entries[-1][0])
            kind, _, camera_id = name.rpartition(":")
            view = self._views.get(camera_id)
            if view is None:
                continue
            for _entry_id, fields in entries:
                if kind == f"{self.prefix}:aggregate":
                    self._take_window(view, fields)
                else:
                    self._take(view, kind == f"{self.prefix}:trackstream", fields)

    def _take(self, view: CameraView, is_tracks: bool, fields: dict[bytes, bytes]) -> None:
        feed: Any = TRACKS if is_tracks else RESULTS
        payload = fields.get(feed.field)
        try:
            message = feed.decode(payload) if payload is not None else None
        except FerStreamError as exc:
            message = None
            log.warning("skipping an unreadable entry of camera %s: %s", view.stats.camera_id, exc)
        if message is None:
            return
        if isinstance(message, Tracks):
            view.tracks, view.tracks_at = message, message.published_at
            view.motion.observe_tracks(message)
        else:
            with self._lock:
                view.stats.add(message)
            view.results.append(message)
        view.dirty = True

    def _take_window(self, view: CameraView, fields: dict[bytes, bytes]) -> None:
        payload = fields.get(AGGREGATE_FIELD)
        try:
            window = Aggregate.decode(payload) if payload is not None else None
        except FerStreamError as exc:
            window = None
            log.warning("skipping an unreadable window of camera %s: %s", view.stats.camera_id, exc)
        if window is not None:
            view.window, view.dirty = window, True
            with self._lock:
                view.stats.window_faces = window.faces

    def _sweep(self) -> None:
        """Counters for every tile; stale marks on drawings whose camera went quiet."""
        views = list(self._views.values())
        with self.connection.pipeline(transaction=False) as pipeline:  # one round trip
            for view in views:
                pipeline.hgetall(counts_hash(self.prefix, view.stats.camera_id))
            replies = pipeline.execute()
        counts = [counts_from(v.stats.camera_id, r) for v, r in zip(views, replies, strict=True)]
        now = self.clock()
        with self._lock:
            for view, each in zip(views, counts, strict=True):
                view.stats.count(each, now)
        for view in views:
            if view.snapshot is not None and not view.snapshot.stale and self._quiet(view, now):
                self._mark_stale(view)

    def _quiet(self, view: CameraView, now: float) -> bool:
        """No new result for ``web_stale_seconds`` (aggregate mode: no window for a
        window's length and that much more)."""
        if self.settings.aggregating:
            last = None if view.window is None else view.window.published_at
            allowed = self.settings.aggregate_window + self.settings.web_stale_seconds
        else:
            last, allowed = view.stats.last_published, self.settings.web_stale_seconds
        return last is None or now - last > allowed

    # -- drawing ---------------------------------------------------------------------

    def _draw_due(self) -> int:
        """Every camera due a drawing, drawn: their frames in one ``MGET``, their drawings
        stored in one pipeline (cameras the grid alone watches fall due together)."""
        now = time.monotonic()
        due: list[tuple[CameraView, Result, Tracks | None, bool]] = []
        for camera_id, view in list(self._views.items()):
            interval = self.demand.interval(camera_id)
            if not view.dirty or interval is None or now - view.drawn_at < interval:
                continue
            view.dirty = False
            picked = self._pick(view, self.clock())
            if picked is None or (picked[0].frame_number, _frame_of(picked[1])) == view.drawn:
                continue
            due.append((view, *picked, interval == LIVE_INTERVAL))
        if not due:
            return 0
        frames: list[bytes | None] = [None] * len(due)
        if self.settings.keeps_latest_frame:
            keys = [latest_frame(self.prefix, result.camera_id) for _, result, _, _ in due]
            frames = self.connection.mget(keys)
        with self.connection.pipeline(transaction=False) as pipeline:
            for (view, result, tracks, full), raw in zip(due, frames, strict=True):
                self._draw(pipeline, view, result, tracks, full, raw)
                view.drawn_at = now
            pipeline.execute()
        return len(due)

    def _draw_windows_due(self) -> int:
        """Results mode aggregate: every watched camera with a new window, drawn."""
        now = time.monotonic()
        drawn = 0
        with self.connection.pipeline(transaction=False) as pipeline:
            for camera_id, view in list(self._views.items()):
                interval = self.demand.interval(camera_id)
                if view.window is None or not view.dirty or interval is None:
                    continue
                if now - view.drawn_at < interval:
                    continue
                view.dirty, view.drawn_at = False, now
                self._draw_window(pipeline, view, view.window)
                drawn += 1
            pipeline.execute()
        return drawn

    def _draw_window(
        self, pipeline: redis.client.Pipeline[bytes], view: CameraView, window: Aggregate
    ) -> None:
        started = time.perf_counter()
        snapshot = Snapshot(
            camera_id=window.camera_id,
            frame_number=0,  # no frame: the window's end stands as its capture time
            captured_at=float(window.end),
            published_at=window.published_at,
            rendered_at=self.clock(),
            faces=window.faces,
            stale=False,
            jpeg=drawing.window_mix(window),
        )
        self._keep(pipeline, view, snapshot, started)

    def _pick(self, view: CameraView, now: float) -> tuple[Result, Tracks | None] | None:
        """The newest result, with its frame's tracks while tracks are live."""
        if not view.results:
            return None
        tracks = view.tracks if now - view.tracks_at <= TRACKS_LIVE_SECONDS else None
        if tracks is not None:
            for result in reversed(view.results):
                if result.frame_number == tracks.frame_number:
                    return result, tracks
        return view.results[-1], None

    def _draw(
        self,
        pipeline: redis.client.Pipeline[bytes],
        view: CameraView,
        result: Result,
        tracks: Tracks | None,
        full: bool,
        raw: bytes | None,
    ) -> None:
        """Draw on ``raw`` (the camera's newest frame, or None) and queue the store; at
        half size when only the grid watches (``full`` False)."""
        started = time.perf_counter()
        if self.settings.keeps_latest_frame and raw is None and view.snapshot is not None:
            self._mark_stale(view, pipeline)  # the producer stopped: keep the last drawing
            return
        image, scale, shown, tracks = self._on_frame(view, raw, result, tracks, full)
        stale = image is None and self.settings.keeps_latest_frame
        if image is None:
            image = drawing.canvas_for(result)
        jpeg = drawing.render(image, scale, shown, tracks, self.settings.blur_mode)
        snapshot = Snapshot(
            camera_id=result.camera_id,
            frame_number=result.frame_number,
            captured_at=result.captured_at,
            published_at=result.published_at,
            rendered_at=self.clock(),
            faces=len(result.faces),
            stale=stale,
            jpeg=jpeg,
        )
        view.drawn = (result.frame_number, _frame_of(tracks))
        self._keep(pipeline, view, snapshot, started)

    def _keep(
        self,
        pipeline: redis.client.Pipeline[bytes],
        view: CameraView,
        snapshot: Snapshot,
        started: float,
    ) -> None:
        """Store a new drawing (begun at ``started``, ``time.perf_counter()``) and count it."""
        self._store(pipeline, view, snapshot)
        self.metrics.renders.labels(camera=snapshot.camera_id).inc()
        self.metrics.render_seconds.observe(time.perf_counter() - started)

    def _on_frame(
        self,
        view: CameraView,
        raw: bytes | None,
        result: Result,
        tracks: Tracks | None,
        full: bool,
    ) -> tuple[drawing.Image | None, float, Result, Tracks | None]:
        """The pixels of the frame ``raw`` (None if there is none, or it does not decode)
        and their scale, with ``result`` and ``tracks`` moved to where its faces are."""
        if raw is None:
            return None, 1.0, result, tracks
        try:
            frame = Frame.decode(raw)
            image, scale = drawing.frame_image(frame, reduced=not full)
        except FerStreamError as exc:
            log.warning("skipping an unreadable frame of %s: %s", result.camera_id, exc)
            return None, 1.0, result, tracks
        if tracks is not None:
            size = (frame.width, frame.height)
            result, tracks = moved(view.motion, result, tracks, frame.captured_at, size)
        return image, scale, result, tracks

    def _mark_stale(
        self, view: CameraView, pipeline: redis.client.Pipeline[bytes] | None = None
    ) -> None:
        assert view.snapshot is not None
        if not view.snapshot.stale:
            marked = view.snapshot.marked_stale(drawing.mark_stale(view.snapshot.jpeg))
            self._store(pipeline or self.connection, view, marked)

    def _store(
        self,
        target: redis.Redis[bytes] | redis.client.Pipeline[bytes],
        view: CameraView,
        snapshot: Snapshot,
    ) -> None:
        key = rendered_frame(self.prefix, snapshot.camera_id)
        target.set(key, snapshot.encode(), px=self.settings.web_render_ttl_ms)
        view.snapshot = snapshot


def _frame_of(tracks: Tracks | None) -> int:
    return -1 if tracks is None else tracks.frame_number
