"""The live view's ASGI app (Starlette): pages, JSON, pictures and streams, read from
Redis only. The renderer (``web.renderer``) runs beside it in the same process and
keeps what the grid's tiles show; every picture is its short-lived annotated frame.

    GET /                               the camera grid
    GET /camera/<id>                    one camera: live frame, timeline, recent results
    GET /api/config                     emotions and their colours, timeline length, privacy,
                                        results mode
    GET /api/cameras                    every camera's tile figures
    GET /api/cameras/<id>/latest.jpg    its annotated frame (``?live=1``: a camera page's)
    GET /api/cameras/<id>/stream.mjpg   the same as MJPEG, each new drawing once
    GET /api/cameras/<id>/events        SSE: results and tracks (``Last-Event-ID`` resumes)
    GET /api/cameras/<id>/history       the timeline's last minutes (results, tracks, or in
                                        results mode aggregate the windows), recent results
    GET /metrics                        Prometheus
    GET /healthz                        ok (the only path open without credentials)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from common.errors import FerStreamError, SchemaError
from common.keys import aggregate_stream
from common.metrics import WebMetrics
from common.palette import emotion_css
from common.results import AGGREGATE_FIELD, RESULTS, TRACKS
from common.settings import Settings
from common.wire import EMOTIONS, Aggregate, Result, Tracks, check_camera_id
from web import streams
from web.auth import Credentials, RequireCredentials
from web.demand import GRID_INTERVAL, LIVE_INTERVAL, Demand
from web.renderer import Renderer

STATIC = Path(__file__).parent / "static"
HISTORY_MAX = 2000  # entries per stream a timeline reads at most
RECENT_RESULTS = 15  # rows of the camera page's table
MAX_TIMELINE_MINUTES = 60
NO_STORE = {"Cache-Control": "no-store"}
SSE_HEADERS = {**NO_STORE, "X-Accel-Buffering": "no"}


class LiveView:
    """What the routes share: settings, the async Redis client, renderer, demand."""

    def __init__(
        self,
        settings: Settings,
        client: redis.asyncio.Redis[bytes],
        renderer: Renderer,
        demand: Demand,
        metrics: WebMetrics,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.client = client
        self.renderer = renderer
        self.demand = demand
        self.metrics = metrics
        self.registry = registry
        self.prefix = settings.key_prefix

    # -- pages and JSON -----------------------------------------------------------

    async def grid(self, _request: Request) -> Response:
        return FileResponse(STATIC / "grid.html", headers=NO_STORE)

    async def camera(self, request: Request) -> Response:
        _camera(request)
        return FileResponse(STATIC / "camera.html", headers=NO_STORE)

    async def config(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "emotions": list(EMOTIONS),
                "colours": emotion_css(),
                "timeline_minutes": self.settings.web_timeline_minutes,
                "privacy": self.settings.privacy,
                "frames_kept": self.settings.keeps_latest_frame,
                "grid_interval_s": GRID_INTERVAL,
                "results_mode": self.settings.results_mode,
                "aggregate_window_s": self.settings.aggregate_window,
                "aggregate_min_faces": self.settings.aggregate_min_faces,
            }
        )

    async def cameras(self, _request: Request) -> Response:
        return JSONResponse({"cameras": self.renderer.summaries()}, headers=NO_STORE)

    async def latest(self, request: Request) -> Response:
        camera_id = _camera(request)
        live = request.query_params.get("live") == "1"
        self.demand.want(camera_id, LIVE_INTERVAL if live else GRID_INTERVAL)
        snapshot = await streams.read_snapshot(
            self.client, self.prefix, camera_id, self.renderer.snapshot
        )
        if snapshot is None:
            return PlainTextResponse("no drawing yet", status_code=404, headers=NO_STORE)
        tag = f'"{snapshot.frame_number}-{snapshot.rendered_at:.3f}"'
        headers = {
            **NO_STORE,
            "ETag": tag,
            "X-Frame-Number": str(snapshot.frame_number),
            "X-Stale": "1" if snapshot.stale else "0",
            "X-Published-At": f"{snapshot.published_at:.3f}",
        }
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return Response(snapshot.jpeg, media_type="image/jpeg", headers=headers)

    async def mjpeg(self, request: Request) -> Response:
        camera_id = _camera(request)
        parts = streams.mjpeg(
            self.client, self.prefix, camera_id, self.demand, self.metrics, self.renderer.snapshot
        )
        return StreamingResponse(
            parts,
            media_type=f"multipart/x-mixed-replace; boundary={streams.BOUNDARY}",
            headers=NO_STORE,
        )

    async def events(self, request: Request) -> Response:
        camera_id = _camera(request)
        given = request.headers.get("last-event-id") or request.query_params.get("after")
        try:
            start = (
                streams.Position.parse(given)
                if given
                else await streams.newest(self.client, self.prefix, camera_id)
            )
        except SchemaError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        body = streams.events(self.client, self.prefix, camera_id, start, self.metrics)
        return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)

    async def history(self, request: Request) -> Response:
        camera_id = _camera(request)
        try:
            minutes = int(request.query_params.get("minutes", self.settings.web_timeline_minutes))
        except ValueError:
            return PlainTextResponse("minutes: expected an integer", status_code=400)
        minutes = max(1, min(MAX_TIMELINE_MINUTES, minutes))
        since = int((time.time() - minutes * 60) * 1000)
        results = await self._entries(RESULTS.key(self.prefix, camera_id), since)
        tracks = await self._entries(TRACKS.key(self.prefix, camera_id), since)
        decoded_results = _decoded(results, RESULTS.field, Result.decode)
        decoded_tracks = _decoded(tracks, TRACKS.field, Tracks.decode)
        position = streams.Position(
            results[-1][0].decode() if results else "0-0",
            tracks[-1][0].decode() if tracks else "0-0",
        )
        if not results or not tracks:  # read on from where the empty stream ends now
            now = await streams.newest(self.client, self.prefix, camera_id)
            position = streams.Position(
                position.results if results else now.results,
                position.tracks if tracks else now.tracks,
            )
        return JSONResponse(
            {
                "camera_id": camera_id,
                "minutes": minutes,
                "results": [[r.published_at, [f.label for f in r.faces]] for r in decoded_results],
                "tracks": [
                    [t.published_at, [[x.track_id, _label(x.label)] for x in t.tracks if x.seen]]
                    for t in decoded_tracks
                ],
                "recent": [r.to_json_dict() for r in decoded_results[-RECENT_RESULTS:]],
                "aggregates": await self._aggregates(camera_id, since),
                "last_event_id": position.event_id,
            },
            headers=NO_STORE,
        )

    async def _aggregates(self, camera_id: str, since_ms: int) -> list[list[Any]]:
        """Results mode aggregate: the camera's closed windows since ``since_ms``, each
        ``[start, end, counts per emotion]`` (no face's own result exists to show)."""
        if not self.settings.aggregating:
            return []
        entries = await self._entries(aggregate_stream(self.prefix, camera_id), since_ms)
        windows = _decoded(entries, AGGREGATE_FIELD, Aggregate.decode)
        return [[w.start, w.end, list(w.counts)] for w in windows]

    async def _entries(self, key: str, since_ms: int) -> list[Any]:
        found: list[Any] = await self.client.xrange(
            key, min=str(since_ms), max="+", count=HISTORY_MAX
        )
        return found

    async def metrics_page(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def health(self, _request: Request) -> Response:
        return PlainTextResponse("ok\n")


async def _unavailable(_request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        f"Redis is not answering ({type(exc).__name__}); try again", status_code=503
    )


def _camera(request: Request) -> str:
    try:
        return check_camera_id(request.path_params["camera_id"])
    except SchemaError:
        from starlette.exceptions import HTTPException

        raise HTTPException(404, "no such camera id") from None


def _label(label: int | None) -> int:
    return -1 if label is None else label


def _decoded(entries: list[Any], field: bytes, decode: Any) -> list[Any]:
    found = []
    for _entry_id, fields in entries:
        payload = fields.get(field)
        if payload is None:
            continue
        try:
            found.append(decode(payload))
        except FerStreamError:
            continue
    return found


def create_app(view: LiveView, credentials: Credentials) -> RequireCredentials:
    """The app, behind its credentials check."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await view.client.aclose()  # type: ignore[attr-defined]  # redis-py 5+, newer than its stubs

    routes = [
        Route("/", view.grid),
        Route("/camera/{camera_id}", view.camera),
        Route("/api/config", view.config),
        Route("/api/cameras", view.cameras),
        Route("/api/cameras/{camera_id}/latest.jpg", view.latest),
        Route("/api/cameras/{camera_id}/stream.mjpg", view.mjpeg),
        Route("/api/cameras/{camera_id}/events", view.events),
        Route("/api/cameras/{camera_id}/history", view.history),
        Route("/metrics", view.metrics_page),
        Route("/healthz", view.health),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={redis.RedisError: _unavailable}
    )
    return RequireCredentials(app, credentials, view.metrics)
