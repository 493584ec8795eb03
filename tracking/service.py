"""``ferstream track``: the owner of cameras' tracks, from their results to published tracks.

Workers are stateless, so consecutive frames of a camera may be handled by different
workers and finish out of order. One track service per camera (a lease in Redis, see
``tracking.lease``; replicas share the cameras between them) reads the camera's results
stream, puts the results back in frame order (``tracking.reorder``), runs the camera's
tracker and publishes a ``Tracks`` message per frame to the camera's tracks stream and
channel. A camera taken over from another replica starts from its newest result with no
tracks: on failover, tracks simply restart.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis

from common import retention
from common.connection import ride_through
from common.errors import SchemaError
from common.hints import write_hint
from common.keys import (
    cameras_set,
    results_stream,
    track_lease,
    tracks_channel,
    tracks_stream,
)
from common.metrics import TrackMetrics
from common.results import STREAM_FIELD, TRACKS_FIELD
from common.settings import Settings
from common.wire import Box, Result, TrackedFace, Tracks
from tracking.lease import CameraLease
from tracking.reorder import ReorderBuffer
from tracking.smoothing import SmoothingConfig
from tracking.tracker import CameraTracker, Face, TrackerConfig, TrackState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackServiceConfig:
    prefix: str
    cameras: tuple[str, ...] = ()  # empty: every camera that has sent a frame
    lease_ms: int = 5000
    reorder_window: int = 8
    reorder_wait_seconds: float = 0.2
    stream_maxlen: int = 1000
    block_ms: int = 200
    hint_ttl_ms: int = 2000
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    retention: int = 0  # seconds tracks are kept (common.retention; 0: as long as maxlen)

    @classmethod
    def from_settings(cls, settings: Settings, cameras: tuple[str, ...] = ()) -> TrackServiceConfig:
        return cls(
            prefix=settings.key_prefix,
            cameras=cameras,
            lease_ms=settings.track_lease_ms,
            reorder_window=settings.track_reorder_window,
            reorder_wait_seconds=settings.track_reorder_wait,
            stream_maxlen=settings.tracks_stream_maxlen,
            hint_ttl_ms=settings.track_hint_ttl_ms,
            tracker=tracker_config(settings),
            retention=settings.results_retention,
        )


def tracker_config(settings: Settings) -> TrackerConfig:
    """The tracker and smoothing settings (``FERSTREAM_TRACK_*``)."""
    return TrackerConfig(
        min_iou=settings.track_min_iou,
        min_hits=settings.track_min_hits,
        max_missed_seconds=settings.track_max_missed_seconds,
        smoothing=SmoothingConfig(
            half_life_seconds=settings.track_half_life,
            margin=settings.track_switch_margin,
            hold_seconds=settings.track_switch_hold,
            confidence_floor=settings.track_confidence_floor,
        ),
    )


def to_faces(result: Result) -> list[Face]:
    return [Face((f.box.x, f.box.y, f.box.w, f.box.h), f.probabilities) for f in result.faces]


def to_message(result: Result, states: Iterable[TrackState], published_at: float) -> Tracks:
    return Tracks(
        camera_id=result.camera_id,
        frame_number=result.frame_number,
        captured_at=result.captured_at,
        tracks=tuple(
            TrackedFace(
                track_id=s.track_id,
                box=Box(*s.box),
                seen=s.seen,
                raw=s.raw,
                smoothed=s.smoothed,
                label=s.label,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                hits=s.hits,
            )
            for s in states
        ),
        published_at=published_at,
    )


class CameraTracks:
    """One owned camera: where its stream was read to, its reorder buffer and tracker."""

    def __init__(self, lease: CameraLease, config: TrackServiceConfig, position: bytes) -> None:
        self.lease = lease
        self.position = position
        self.buffer: ReorderBuffer[Result] = ReorderBuffer(
            config.reorder_window, config.reorder_wait_seconds
        )
        self.tracker = CameraTracker(config.tracker)


class TrackService:
    """Owns cameras by lease and turns their results into published tracks."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        config: TrackServiceConfig,
        metrics: TrackMetrics,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connection = connection
        self.config = config
        self.metrics = metrics
        self.owner = owner or f"track-{secrets.token_hex(4)}"
        self.clock = clock
        self.cameras: dict[str, CameraTracks] = {}
        self._leases_checked = 0.0
        self.published = 0

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set, riding through Redis outages; give the leases back."""
        try:
            ride_through(stop, self.step)
        finally:
            self.release_all()

    def step(self) -> int:
        """One round: keep the leases, read new results, publish what is ready."""
        now = self.clock()
        if now - self._leases_checked >= self.config.lease_ms / 3000.0:
            self._keep_leases()
            self._leases_checked = now
        if not self.cameras:
            time.sleep(self.config.block_ms / 1000.0)
            return 0
        return self._publish(self._read())

    def release_all(self) -> None:
        for camera in self.cameras.values():
            try:
                camera.lease.release()
            except redis.RedisError as exc:
                log.warning("could not give back a track lease: %s", exc)
        self.cameras.clear()

    def _wanted(self) -> list[str]:
        if self.config.cameras:
            return list(self.config.cameras)
        return sorted(m.decode() for m in self.connection.smembers(cameras_set(self.config.prefix)))

    def _keep_leases(self) -> None:
        for camera_id in self._wanted():
            camera = self.cameras.get(camera_id)
            if camera is not None:
                if not camera.lease.renew():
                    log.info("lost the tracks of camera %s to another replica", camera_id)
                    del self.cameras[camera_id]
                continue
            lease = CameraLease(
                self.connection,
                track_lease(self.config.prefix, camera_id),
                self.owner,
                self.config.lease_ms,
            )
            if lease.take():
                log.info("tracking camera %s", camera_id)
                self.cameras[camera_id] = CameraTracks(lease, self.config, self._newest(camera_id))
        self.metrics.cameras.set(len(self.cameras))

    def _newest(self, camera_id: str) -> bytes:
        newest = self.connection.xrevrange(results_stream(self.config.prefix, camera_id), count=1)
        return newest[0][0] if newest else b"0-0"

    def _read(self) -> list[tuple[str, list[Result]]]:
        streams = {
            results_stream(self.config.prefix, camera_id): camera.position
            for camera_id, camera in self.cameras.items()
        }
        by_key = {results_stream(self.config.prefix, c): c for c in self.cameras}
        replies = self.connection.xread(streams, block=self.config.block_ms)
        now = self.clock()
        arrived: dict[str, list[Result]] = {camera_id: [] for camera_id in self.cameras}
        for key, entries in replies or []:
            camera_id = by_key[key.decode() if isinstance(key, bytes) else str(key)]
            camera = self.cameras[camera_id]
            late = camera.buffer.late
            for entry_id, fields in entries:
                camera.position = entry_id
                result = self._decode(camera_id, fields)
                if result is not None:
                    released = camera.buffer.push(result.frame_number, result, now)
                    arrived[camera_id].extend(released)
            if camera.buffer.late > late:
                self.metrics.late_results.labels(camera=camera_id).inc(camera.buffer.late - late)
        for camera_id, camera in self.cameras.items():
            arrived[camera_id].extend(camera.buffer.release(now))
        return list(arrived.items())

    def _decode(self, camera_id: str, fields: dict[bytes, bytes]) -> Result | None:
        try:
            return Result.decode(fields[STREAM_FIELD])
        except (KeyError, SchemaError) as exc:
            log.warning("skipping an unreadable result of camera %s: %s", camera_id, exc)
            self.metrics.unreadable.labels(camera=camera_id).inc()
            return None

    def _hint(
        self,
        pipe: redis.client.Pipeline[bytes],
        camera_id: str,
        tracker: CameraTracker,
        last: Result,
    ) -> None:
        """Where the camera's live tracks are, for the workers' guided detection."""
        hint = tracker.hint_at(last.frame_number, last.captured_at)
        write_hint(pipe, self.config.prefix, camera_id, hint, self.config.hint_ttl_ms)

    def _publish(self, ready: list[tuple[str, list[Result]]]) -> int:
        pipe = self.connection.pipeline(transaction=False)
        count = 0
        for camera_id, results in ready:
            camera = self.cameras[camera_id]
            for result in results:
                states = camera.tracker.update(to_faces(result), result.captured_at)
                now = self.clock()
                payload = to_message(result, states, now).encode()
                stream = tracks_stream(self.config.prefix, camera_id)
                pipe.xadd(
                    stream,
                    {TRACKS_FIELD: payload},
                    maxlen=self.config.stream_maxlen,
                    approximate=True,
                )
                retention.trim_stream(pipe, stream, self.config.retention)
                pipe.publish(tracks_channel(self.config.prefix, camera_id), payload)
                self.metrics.lag.observe(max(0.0, now - result.published_at))
                count += 1
            if results:
                self._hint(pipe, camera_id, camera.tracker, results[-1])
            self.metrics.tracks_published.labels(camera=camera_id).inc(len(results))
            self.metrics.live_tracks.labels(camera=camera_id).set(len(camera.tracker.tracks))
        if count:
            pipe.execute()
            self.published += count
        return count
