"""The live view end to end, in Debian's chromium driven by Playwright: a real Redis, real
workers, synthetic cameras, the track service and ``ferstream web`` as its own process.

The run takes the README's screenshots, grid.png, camera.png and grid-aggregate.png (and
camera-aggregate.png), into the test's own folder;
``FERSTREAM_SCREENSHOTS_DIR=docs/web ./dev test tests/web/test_browser.py`` renews the
README's (a plain test run leaves the work tree as it was).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import redis
from playwright.sync_api import Browser, Page
from prometheus_client import CollectorRegistry

from common.keys import results_stream
from common.metrics import TrackMetrics
from common.settings import Settings
from ferstream.cameras import synthetic_cameras
from ferstream.local import local_stack
from tests.web import close_window, submit_frame
from tests.web.conftest import free_port
from tracking.service import TrackService, TrackServiceConfig

pytestmark = pytest.mark.slow

SCREENSHOTS_DIR = "FERSTREAM_SCREENSHOTS_DIR"  # where the screenshots go, if not tmp_path
CAMERAS = ["lobby", "door"]
TOKEN = "browser-token-0123456789"
VIEWPORT = {"width": 1280, "height": 800}


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def ferstream_web(settings: Settings, port: int, **env: str) -> subprocess.Popen[str]:
    """``ferstream web`` in its own process, on the test Redis and key prefix."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FERSTREAM_WEB")},
        "REDIS_URL": settings.redis_url or "",
        "FERSTREAM_KEY_PREFIX": settings.key_prefix,
        "FERSTREAM_WEB_PORT": str(port),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ferstream.cli", "web"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def started(process: subprocess.Popen[str], url: str) -> None:
    def up() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            return httpx.get(url + "healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, 30.0), "ferstream web did not start"


def stopped(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.fixture
def site(
    redis_conn: redis.Redis[bytes], settings: Settings, fer_data_dir: Path
) -> Iterator[dict[str, Any]]:
    """Workers, two moving cameras, the track service and ``ferstream web``."""
    settings = settings.with_changes(data_dir=fer_data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with local_stack(settings, 1) as local:
        stop = threading.Event()
        service = TrackService(
            local.connection,
            TrackServiceConfig.from_settings(settings, tuple(CAMERAS)),
            TrackMetrics.create(CollectorRegistry()),
        )
        tracks = threading.Thread(target=service.run, args=(stop,), daemon=True)
        tracks.start()
        with synthetic_cameras(local.connection, settings, CAMERAS, 4.0, fer_data_dir):
            web = ferstream_web(settings, port)
            try:
                started(web, url)
                yield {"url": url, "settings": settings, "connection": local.connection}
            finally:
                output = stopped(web)
                stop.set()
                tracks.join(timeout=5.0)
        assert TOKEN not in output


def open_streams(url: str) -> dict[str, float]:
    found = {}
    for line in httpx.get(url + "metrics", timeout=5.0).text.splitlines():
        if line.startswith("ferstream_web_open_streams{"):
            kind = line.split('kind="')[1].split('"')[0]
            found[kind] = float(line.split()[-1])
    return found


def decoded(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image.astype(np.int16)


def test_grid_camera_page_events_and_streams_in_a_browser(
    site: dict[str, Any], page: Page, tmp_path: Path
) -> None:
    screenshots = Path(os.environ.get(SCREENSHOTS_DIR) or tmp_path)
    url = site["url"]
    page.set_viewport_size(VIEWPORT)

    # -- the grid: a tile per camera, whose picture changes
    page.goto(url)
    tiles = page.locator("article.tile")
    tiles.nth(len(CAMERAS) - 1).wait_for(timeout=30_000)
    assert sorted(tiles.evaluate_all("ts => ts.map(t => t.dataset.camera)")) == sorted(CAMERAS)
    first = page.locator(f'article.tile[data-camera="{CAMERAS[0]}"] img.frame')
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.frame')].every(i => i.dataset.frame)",
        timeout=30_000,
    )
    before_frame = first.get_attribute("data-frame")
    before = decoded(first.screenshot())
    page.wait_for_function(
        f"() => document.querySelector('article.tile[data-camera=\"{CAMERAS[0]}\"] img.frame')"
        f".dataset.frame !== '{before_frame}'",
        timeout=15_000,
    )
    page.wait_for_timeout(300)  # the new picture painted
    after = decoded(first.screenshot())
    assert before.shape == after.shape
    assert np.abs(before - after).mean() > 1.0, "the tile's picture did not change"
    assert page.locator(".legend li").count() == 7
    page.wait_for_function(
        "() => [...document.querySelectorAll('.spark')].every(s => "
        "(s.dataset.values || '').split(',').some(v => Number(v) > 0))",
        timeout=15_000,
    )
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "grid.png"))

    # -- a camera page: the timeline gains points, both streams open
    camera = CAMERAS[0]
    page.goto(f"{url}camera/{camera}")
    timeline = page.locator("#timeline")
    page.wait_for_function("() => Number(document.querySelector('#timeline').dataset.points) > 0")
    points = int(timeline.get_attribute("data-points") or 0)
    page.wait_for_function(
        f"() => Number(document.querySelector('#timeline').dataset.points) > {points}",
        timeout=15_000,
    )
    page.wait_for_function("() => (window.ferstreamEvents || []).length >= 3", timeout=15_000)
    page.wait_for_function("() => document.querySelector('#live').naturalWidth > 0")
    page.wait_for_function("() => document.querySelectorAll('#tracks .row').length > 0")
    assert wait_for(lambda: open_streams(url) == {"events": 1.0, "mjpeg": 1.0}, 10.0)
    page.wait_for_timeout(2000)  # a fuller timeline for the screenshot
    page.screenshot(path=str(screenshots / "camera.png"))

    # -- a reload resumes the events where the page left off (Last-Event-ID)
    page.reload()
    page.wait_for_function("() => (window.ferstreamEvents || []).some(e => e.kind === 'result')")
    resumed_from = page.locator("#sse-status").get_attribute("data-resumed-from") or ""
    assert resumed_from, "the reloaded page did not resume from its last event id"
    first_result = page.evaluate(
        "() => window.ferstreamEvents.find(e => e.kind === 'result').id.split(',')[0]"
    )
    stream = results_stream(site["settings"].key_prefix, camera)
    following = site["connection"].xrange(stream, min="(" + resumed_from.split(",")[0], count=1)
    assert following and following[0][0].decode() == first_result  # nothing skipped

    # -- a viewer that goes frees its streams on the server
    assert wait_for(lambda: open_streams(url) == {"events": 1.0, "mjpeg": 1.0}, 10.0)
    page.goto("about:blank")
    assert wait_for(lambda: open_streams(url) == {"events": 0.0, "mjpeg": 0.0}, 10.0)


def test_wrong_credentials_get_401_in_the_browser_and_right_ones_the_grid(
    site: dict[str, Any], browser: Browser
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    secured = ferstream_web(site["settings"], port, FERSTREAM_WEB_TOKEN=TOKEN)
    try:
        started(secured, url)
        wrong = browser.new_context(http_credentials={"username": "viewer", "password": "nope"})
        response = wrong.new_page().goto(url)
        assert response is not None and response.status == 401
        wrong.close()
        right = browser.new_context(http_credentials={"username": "viewer", "password": TOKEN})
        page = right.new_page()
        response = page.goto(url)
        assert response is not None and response.status == 200
        page.locator("article.tile").nth(len(CAMERAS) - 1).wait_for(timeout=30_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.frame')].every(i => i.dataset.frame)",
            timeout=30_000,
        )
        right.close()
    finally:
        output = stopped(secured)
    assert TOKEN not in output


def test_in_aggregate_mode_the_pages_show_the_windows(
    redis_conn: redis.Redis[bytes], settings: Settings, page: Page, tmp_path: Path
) -> None:
    """No face's own result exists: the grid's tile is the newest window's mix (on grey,
    not the frame), the timeline is the camera's closed windows, and both pages say so."""
    aggregate = settings.with_changes(results_mode="aggregate", aggregate_min_faces=3)
    submit_frame(redis_conn, aggregate, CAMERAS[0], 1)  # the camera, and a frame kept
    close_window(redis_conn, aggregate, CAMERAS[0], faces=4)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    web = ferstream_web(
        aggregate, port, FERSTREAM_RESULTS_MODE="aggregate", FERSTREAM_AGGREGATE_MIN_FACES="3"
    )
    try:
        started(web, url)
        page.goto(url)
        page.wait_for_function(  # the window's bars: 640x360, a frame's drawing is 4:3
            "() => [...document.querySelectorAll('img.frame')].some("
            "i => i.dataset.frame === '0' && i.naturalWidth === 640 && i.naturalHeight === 360)",
            timeout=30_000,
        )
        screenshots = Path(os.environ.get(SCREENSHOTS_DIR) or tmp_path)
        screenshots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshots / "grid-aggregate.png"))
        page.goto(f"{url}camera/{CAMERAS[0]}")
        page.wait_for_function(
            "() => Number(document.querySelector('#timeline').dataset.points) > 0"
        )
        emotions = page.locator("#timeline rect").evaluate_all(
            "rs => rs.map(r => r.dataset.emotion)"
        )
        assert emotions and set(emotions) == {"happy"}
        windows = page.locator("#recent tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        assert [cells[1:] for cells in windows] == [["4", "happy 100%"]]
        assert page.locator("#recent-title").text_content() == "recent windows"
        page.screenshot(path=str(screenshots / "camera-aggregate.png"))
        assert "aggregate mode" in (page.locator("#privacy").text_content() or "")
        assert "window of at least 3 faces" in (
            page.locator("#timeline-title").text_content() or ""
        )
    finally:
        stopped(web)
