"""The track service on a real Redis: leases, reordering, published tracks, failover."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from prometheus_client import CollectorRegistry

from common.keys import cameras_set, track_lease, tracks_stream
from common.metrics import TrackMetrics
from common.results import TRACKS_FIELD
from common.settings import Settings
from common.wire import Box, FaceResult, Result, StageTimings, Tracks
from tracking.lease import CameraLease
from tracking.service import TrackService, TrackServiceConfig
from worker.publisher import publish_result

HAPPY = (0.02, 0.02, 0.02, 0.86, 0.04, 0.02, 0.02)
START = 1_800_000_000.0


def result(camera: str, n: int, x: int = 100) -> Result:
    timings = StageTimings(0.0, 0.0, 0.0, 0.0, 0.0)
    face = FaceResult(Box(x + 4 * n, 80, 60, 60), 3, HAPPY)
    at = START + n * 0.1
    return Result(camera, n, at, (face,), timings, "w", "m", at + 0.05)


def publish(connection: redis.Redis[bytes], prefix: str, results: list[Result]) -> None:
    pipe = connection.pipeline()
    for r in results:
        connection.sadd(cameras_set(prefix), r.camera_id)
        publish_result(pipe, prefix, r, 1000)
    pipe.execute()


def published(connection: redis.Redis[bytes], prefix: str, camera: str) -> list[Tracks]:
    entries = connection.xrange(tracks_stream(prefix, camera))
    return [Tracks.decode(fields[TRACKS_FIELD]) for _, fields in entries]


def service(connection: redis.Redis[bytes], settings: Settings, **changes: object) -> TrackService:
    config = TrackServiceConfig(
        prefix=settings.key_prefix,
        block_ms=50,
        reorder_wait_seconds=0.2,
        **changes,  # type: ignore[arg-type]
    )
    return TrackService(connection, config, TrackMetrics.create(CollectorRegistry()))


def run_until(track: TrackService, done: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():  # type: ignore[operator]
        track.step()


def test_out_of_order_results_become_one_track_in_frame_order(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    publish(redis_conn, settings.key_prefix, [result("cam", 0)])  # taken before the service
    track = service(redis_conn, settings, cameras=("cam",))
    track.step()  # takes the lease; reads only results newer than the newest
    order = [2, 1, 4, 3, 6, 5, 8, 7]
    publish(redis_conn, settings.key_prefix, [result("cam", n) for n in order])
    run_until(track, lambda: track.published >= len(order))
    messages = published(redis_conn, settings.key_prefix, "cam")
    assert [m.frame_number for m in messages] == sorted(order)
    ids = {t.track_id for m in messages for t in m.tracks}
    assert len(ids) == 1
    last = messages[-1].tracks[0]
    assert last.label == 3 and last.seen and last.hits == len(order)
    assert last.last_seen == pytest.approx(START + 0.8)


def test_one_replica_owns_a_camera_and_another_takes_over_when_it_stops(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    publish(redis_conn, settings.key_prefix, [result("cam", 0)])
    first = service(redis_conn, settings, lease_ms=400)
    second = service(redis_conn, settings, lease_ms=400)
    first.step()
    second.step()
    assert list(first.cameras) == ["cam"] and second.cameras == {}
    owner = redis_conn.get(track_lease(settings.key_prefix, "cam"))
    assert owner == first.owner.encode()
    stop = threading.Event()
    thread = threading.Thread(target=first.run, args=(stop,))
    thread.start()
    time.sleep(0.6)  # past one lease: renewed all the while
    run_until(second, lambda: False, seconds=0.3)  # tries to take it, several times
    assert second.cameras == {}
    stop.set()
    thread.join(timeout=5)
    run_until(second, lambda: second.cameras, seconds=2.0)  # the stopped one gave it back
    assert list(second.cameras) == ["cam"]


def test_a_lease_is_renewed_and_released_only_by_its_owner(
    redis_conn: redis.Redis[bytes],
) -> None:
    mine = CameraLease(redis_conn, "lease", "me", 1000)
    theirs = CameraLease(redis_conn, "lease", "them", 1000)
    assert mine.take() and not theirs.take() and not theirs.renew()
    theirs.release()
    assert redis_conn.get("lease") == b"me"
    mine.release()
    assert theirs.take()


def test_tracks_follow_the_retention(redis_conn: redis.Redis[bytes], settings: Settings) -> None:
    """Under a retention (strict privacy: an hour) tracks age out as results do."""
    track = service(redis_conn, settings, cameras=("cam",), retention=30)
    track.step()
    publish(redis_conn, settings.key_prefix, [result("cam", n) for n in range(3)])
    run_until(track, lambda: track.published >= 3)
    assert 0 < redis_conn.ttl(tracks_stream(settings.key_prefix, "cam")) <= 30
    assert TrackServiceConfig.from_settings(Settings(privacy="strict")).retention == 3600
