"""The renderer draws a watched camera's newest result on its newest frame, once, into a
short-lived key; not a camera nobody watches; the last drawing marked stale when the
frame is gone; boxes on grey under strict privacy, where no frame is kept; in aggregate
mode, the newest window's emotion mix on grey."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry

from common.accounting import CameraCounts
from common.keys import latest_frame, rendered_frame
from common.metrics import WebMetrics
from common.palette import EMOTION_BGR
from common.settings import Settings
from common.wire import Frame
from tests.web import BOX, HAPPY, close_window, publish, publish_tracks, submit_frame
from web.demand import GRID_INTERVAL, LIVE_INTERVAL, Demand
from web.renderer import Renderer
from web.snapshot import Snapshot
from web.stats import CameraStats

CAMERA = "door"
T0 = 1_800_000_000.0


def renderer(connection: redis.Redis[bytes], settings: Settings) -> tuple[Renderer, Demand]:
    demand = Demand()
    return Renderer(connection, settings, WebMetrics.create(CollectorRegistry()), demand), demand


def snapshot(connection: redis.Redis[bytes], settings: Settings) -> Snapshot | None:
    raw = connection.get(rendered_frame(settings.key_prefix, CAMERA))
    return None if raw is None else Snapshot.decode(raw)


def pixels(snap: Snapshot) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(snap.jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def box_edge_colour(image: np.ndarray) -> np.ndarray:
    x, y, _w, h = BOX
    return image[y + h // 2, x].astype(int)  # the middle of the box's left edge


def test_a_watched_camera_is_drawn_once_per_new_result_with_the_analyze_colours(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    render, demand = renderer(redis_conn, settings)
    submit_frame(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)  # finds the camera
    publish(redis_conn, settings, CAMERA, 1)
    assert render.step(block_ms=50) == 0  # nobody watches it: figures only
    assert snapshot(redis_conn, settings) is None
    assert render.summaries()[0]["frame_number"] == 1

    demand.want(CAMERA, LIVE_INTERVAL)
    assert render.step(block_ms=10) == 1
    assert render.step(block_ms=10) == 0  # nothing new: not drawn again

    snap = snapshot(redis_conn, settings)
    assert snap is not None and snap.frame_number == 1 and snap.faces == 1 and not snap.stale
    image = pixels(snap)
    assert image.shape == (480, 640, 3)
    assert np.abs(box_edge_colour(image) - np.array(EMOTION_BGR[HAPPY])).max() < 40
    assert abs(int(image[20, 600].mean()) - 128) < 10  # the frame itself, grey, elsewhere
    ttl = redis_conn.pttl(rendered_frame(settings.key_prefix, CAMERA))
    assert 0 < ttl <= settings.web_render_ttl_ms


def test_the_grid_alone_gets_half_size_drawings_at_most_once_per_interval(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    render, demand = renderer(redis_conn, settings)
    submit_frame(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)
    demand.want(CAMERA, GRID_INTERVAL)
    drawn = 0
    for number in range(1, 6):
        publish(redis_conn, settings, CAMERA, number)
        drawn += render.step(block_ms=10)
    assert drawn == 1  # five results well within a second: one drawing
    snap = snapshot(redis_conn, settings)
    assert snap is not None and pixels(snap).shape == (240, 320, 3)  # a tile's: half size
    half = pixels(snap)
    x, y, _w, h = (v // 2 for v in BOX)
    assert np.abs(half[y + h // 2, x].astype(int) - np.array(EMOTION_BGR[HAPPY])).max() < 40


def test_a_gone_frame_keeps_the_last_drawing_marked_stale(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    render, demand = renderer(redis_conn, settings)
    submit_frame(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)
    demand.want(CAMERA, LIVE_INTERVAL)
    publish(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)
    fresh = snapshot(redis_conn, settings)
    assert fresh is not None and not fresh.stale

    redis_conn.delete(latest_frame(settings.key_prefix, CAMERA))  # the producer stopped
    publish(redis_conn, settings, CAMERA, 2)
    render.step(block_ms=10)

    stale = snapshot(redis_conn, settings)
    assert stale is not None and stale.stale and stale.frame_number == 1  # the last drawing
    assert pixels(stale).mean() < pixels(fresh).mean()  # dimmed, marked


def test_a_quiet_camera_is_marked_stale(redis_conn: redis.Redis[bytes], settings: Settings) -> None:
    settings = settings.with_changes(web_stale_seconds=0.2)
    render, demand = renderer(redis_conn, settings)
    submit_frame(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)
    demand.want(CAMERA, LIVE_INTERVAL)
    publish(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)
    time.sleep(0.3)  # no result since
    render._swept_at = float("-inf")  # the next step sweeps at once
    render.step(block_ms=10)
    found = snapshot(redis_conn, settings)
    assert found is not None and found.stale


@pytest.mark.parametrize("blur", ["", "blur"])
def test_strict_privacy_draws_boxes_on_grey_and_keeps_no_frame(
    redis_conn: redis.Redis[bytes], settings: Settings, blur: str
) -> None:
    settings = settings.with_changes(privacy="strict", blur_faces=blur)
    render, demand = renderer(redis_conn, settings)
    submit_frame(redis_conn, settings, CAMERA, 1)
    assert redis_conn.get(latest_frame(settings.key_prefix, CAMERA)) is None
    render.step(block_ms=10)
    demand.want(CAMERA, LIVE_INTERVAL)
    publish(redis_conn, settings, CAMERA, 1)
    render.step(block_ms=10)

    snap = snapshot(redis_conn, settings)
    assert snap is not None and not snap.stale  # no frame is expected: not stale
    image = pixels(snap)
    assert np.abs(box_edge_colour(image) - np.array(EMOTION_BGR[HAPPY])).max() < 40
    assert abs(int(image[20, 600].mean()) - 64) < 10  # the grey canvas


def test_a_moving_face_is_boxed_where_it_is_in_the_newer_frame_drawn_on(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    render, demand = renderer(redis_conn, settings)
    submit_frame(redis_conn, settings, CAMERA, 20)  # the newest frame, captured now
    newest = redis_conn.get(latest_frame(settings.key_prefix, CAMERA))
    assert newest is not None
    shown_at = Frame.decode(newest).captured_at  # its own clock: the lead is exact
    render.step(block_ms=10)
    demand.want(CAMERA, LIVE_INTERVAL)
    x, y, w, h = BOX
    for number in range(10):  # 200 px/s to the right, until 0.2 s before that frame
        captured = shown_at - 0.2 - (9 - number) * 0.04
        box = (x + 8 * number, y, w, h)
        result = publish(redis_conn, settings, CAMERA, number, box, captured)
        publish_tracks(redis_conn, settings, result)
    render.step(block_ms=50)

    snap = snapshot(redis_conn, settings)
    assert snap is not None and snap.frame_number == 9
    image = pixels(snap)
    happy = np.array(EMOTION_BGR[HAPPY])
    trailing, there = x + 8 * 9, x + 8 * 9 + 40  # where the result says; 0.2 s on
    edge = image[y + h // 2, there - 1 : there + 2].astype(int)  # the 2 px line, +-1 px
    assert min(np.abs(column - happy).max() for column in edge) < 40
    assert abs(int(image[y + h // 2, trailing].mean()) - 128) < 10  # no box left behind


def test_in_aggregate_mode_a_watched_camera_shows_its_newest_windows_mix_not_its_frame(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    settings = settings.with_changes(
        results_mode="aggregate", aggregate_min_faces=3, web_stale_seconds=0.2
    )
    later = [0.0]  # seconds the renderer's clock runs ahead
    demand = Demand()
    metrics = WebMetrics.create(CollectorRegistry())
    render = Renderer(redis_conn, settings, metrics, demand, clock=lambda: time.time() + later[0])
    submit_frame(redis_conn, settings, CAMERA, 1)  # a mid-grey frame, kept
    close_window(redis_conn, settings, CAMERA, faces=4)  # four happy faces
    assert render.step(block_ms=10) == 0  # finds the camera and its window; unwatched
    assert snapshot(redis_conn, settings) is None

    demand.want(CAMERA, GRID_INTERVAL)
    assert render.step(block_ms=10) == 1
    assert render.step(block_ms=10) == 0  # no new window: not drawn again
    snap = snapshot(redis_conn, settings)
    assert snap is not None and (snap.faces, snap.frame_number, snap.stale) == (4, 0, False)
    image = pixels(snap)
    assert image.shape == (360, 640, 3)
    bar = image[205, 160:480].astype(int)  # happy's row: the whole mix, 100%
    assert np.abs(bar - np.array(EMOTION_BGR[HAPPY])).max(axis=1).max() < 40
    assert abs(int(image[340, 600].mean()) - 40) < 10  # grey, not the frame's 128

    render._swept_at = float("-inf")
    render.step(block_ms=10)
    found = snapshot(redis_conn, settings)
    assert found is not None and not found.stale  # a window's length is no silence yet

    later[0] = settings.aggregate_window + 0.3  # no window since, for a window and more
    render._swept_at = float("-inf")
    render.step(block_ms=10)
    found = snapshot(redis_conn, settings)
    assert found is not None and found.stale


def test_without_results_a_tiles_frames_per_second_is_its_processed_counters_rise() -> None:
    """Results mode aggregate publishes no result: the tile's frames/s comes from the
    counter the renderer reads every sweep, its faces from the newest window."""
    stats = CameraStats(CAMERA)
    assert stats.summary(T0)["fps"] == 0.0
    for second in range(4):  # 8 frames processed a second
        stats.count(CameraCounts(CAMERA, submitted=8 * second, processed=8 * second), T0 + second)
    stats.window_faces = 12
    summary = stats.summary(T0 + 3)
    assert (summary["fps"], summary["faces"], summary["processed"]) == (8.0, 12, 24)
