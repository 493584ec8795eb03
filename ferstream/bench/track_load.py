"""The track stage under load: the real pool at 200 % of its saturation, moving cameras,
and the track service beside it on the same cores. Does it keep up, and does its Redis
memory stay bounded?

Lag is measured per frame, from the worker's publication of a result to the track
service's publication of that frame's tracks (both read back from the streams
afterwards, joined by camera and frame number).
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import redis
from prometheus_client import CollectorRegistry

from common.connection import connect
from common.keys import track_hints, track_lease, tracks_stream
from common.metrics import TrackMetrics
from common.results import TRACKS, read_feed, read_history
from common.settings import Settings
from ferstream.bench.load import LoadDriver
from ferstream.bench.scenes import LabelledFrame
from ferstream.bench.stack import broker, running_pool
from ferstream.bench.watch import Watcher
from producer.encoding import encode_jpeg
from producer.motion import MotionSequence
from tracking.service import TrackService, TrackServiceConfig

RENDER_FPS = 15.0


@dataclass(frozen=True)
class TrackLoad:
    workers: int
    saturation_fps: float
    offered_fps: float
    seconds: float
    results: int
    tracked_frames: int
    lag_sample: int  # frames whose lag was measured (the streams keep the newest only)
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    late_results: int
    track_keys_bytes: int  # tracks streams, hints and leases, at the end
    tracks_per_camera_cap: int

    @property
    def keeps_up(self) -> bool:
        return self.tracked_frames >= self.results * 0.99 and self.lag_p99_ms < 1000.0


def moving_frames(data_dir: Path, cameras: int, seconds: float, seed: int) -> list[LabelledFrame]:
    """Frames of one moving sequence per camera, interleaved as ``LoadDriver`` reads them
    (camera c's n-th frame at index n * cameras + c)."""
    per_camera = []
    for camera in range(cameras):
        sequence = MotionSequence(data_dir, seconds, seed=seed + camera)
        frames = []
        for index in range(int(seconds * RENDER_FPS)):
            image, truth = sequence.frame_at(index / RENDER_FPS)
            height, width = image.shape[:2]
            frames.append(LabelledFrame(encode_jpeg(image, 80), width, height, tuple(truth)))
        per_camera.append(frames)
    return [frames[n] for n in range(len(per_camera[0])) for frames in per_camera]


def run_track_load(
    settings: Settings,
    data_dir: Path,
    seconds: float = 60.0,
    load: float = 2.0,
    workers: int = 2,
    cameras: int = 4,
    say: Callable[[str], None] = print,
) -> TrackLoad:
    frames = moving_frames(data_dir, cameras, 20.0, seed=7)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as logs:
        settings = broker(stack, settings, say)
        assert settings.redis_url is not None
        connection = connect(settings.redis_url)
        pool = stack.enter_context(running_pool(connection, settings, workers, logs, say))
        watcher = Watcher(connection, settle=0.0)
        watcher.pids = lambda: pool.pids
        driver = LoadDriver(connection, pool.settings, frames, watcher, cameras)
        watcher.start()
        saturation = driver.saturation(workers, 2.0, 8.0).frames_per_s
        offered = round(load * saturation, 1)
        say(f"track stage at {load:.0%} load: {offered} frames/s for {seconds:g} s ...")
        registry = CollectorRegistry()
        metrics = TrackMetrics.create(registry)
        camera_ids = [f"tracks-c{i}" for i in range(cameras)]
        config = TrackServiceConfig.from_settings(pool.settings, tuple(camera_ids))
        service = TrackService(connection, config, metrics)
        service.step()  # owns every camera before its first frame: all its results count
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        thread.start()
        run = driver.offered("tracks", offered, seconds)
        stop.wait(pool.settings.track_reorder_wait + 1.0)
        stop.set()
        thread.join(timeout=10.0)
        watcher.stop()
        lags = _lags(connection, pool.settings.key_prefix, camera_ids)
        tracked = _counted(registry, "ferstream_tracks_published_total", camera_ids)
        late = _counted(registry, "ferstream_track_late_results_total", camera_ids)
        memory = _track_memory(connection, pool.settings.key_prefix, camera_ids)
    return TrackLoad(
        workers=workers,
        saturation_fps=saturation,
        offered_fps=offered,
        seconds=seconds,
        results=run.processed,
        tracked_frames=tracked,
        lag_sample=len(lags),
        lag_p50_ms=_quantile(lags, 0.5),
        lag_p99_ms=_quantile(lags, 0.99),
        lag_max_ms=max(lags, default=math.nan),
        late_results=late,
        track_keys_bytes=memory,
        tracks_per_camera_cap=pool.settings.tracks_stream_maxlen,
    )


def _lags(connection: redis.Redis[bytes], prefix: str, cameras: list[str]) -> list[float]:
    lags = []
    for camera in cameras:
        published = {
            r.frame_number: r.published_at for _, r in read_history(connection, prefix, camera)
        }
        for _, tracks in read_feed(connection, TRACKS, prefix, camera):
            if tracks.frame_number in published:
                lags.append(1000.0 * (tracks.published_at - published[tracks.frame_number]))
    return lags


def _counted(registry: CollectorRegistry, name: str, cameras: list[str]) -> int:
    return int(sum(registry.get_sample_value(name, {"camera": c}) or 0.0 for c in cameras))


def _track_memory(connection: redis.Redis[bytes], prefix: str, cameras: list[str]) -> int:
    total = 0
    for camera in cameras:
        for key in (
            tracks_stream(prefix, camera),
            track_hints(prefix, camera),
            track_lease(prefix, camera),
        ):
            total += int(connection.memory_usage(key) or 0)
    return total


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
