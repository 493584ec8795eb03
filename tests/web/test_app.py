"""The live view over HTTP, served by uvicorn on the test Redis: pictures, events that
resume from ``Last-Event-ID``, streams freed when their viewer goes, credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from common.settings import Settings
from tests.web import HAPPY, close_window, publish, submit_frame
from tests.web.conftest import free_port
from web.server import WebService, background

CAMERA = "door"
TOKEN = "tok-0123456789abcdef-xyz"


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def open_streams(client: httpx.Client, kind: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'ferstream_web_open_streams{{kind="{kind}"}}'):
            return float(line.split()[-1])
    raise AssertionError("ferstream_web_open_streams not exported")


@pytest.fixture
def http(live: WebService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10.0) as client:
        yield client


def sse_events(response: httpx.Response, wanted: int) -> list[dict[str, str]]:
    """The first ``wanted`` result events of an open SSE response."""
    found: list[dict[str, str]] = []
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if event.get("event") == "result":
                found.append(event)
                if len(found) == wanted:
                    return found
            event = {}
            continue
        key, _, value = line.partition(": ")
        event[key] = value
    return found


def test_a_tile_picture_appears_once_drawn(
    http: httpx.Client, redis_conn: redis.Redis[bytes], web_settings: Settings
) -> None:
    assert http.get(f"/api/cameras/{CAMERA}/latest.jpg").status_code == 404
    submit_frame(redis_conn, web_settings, CAMERA, 1)
    assert wait_for(
        lambda: CAMERA in [c["camera_id"] for c in http.get("/api/cameras").json()["cameras"]]
    )
    publish(redis_conn, web_settings, CAMERA, 1)

    assert wait_for(lambda: http.get(f"/api/cameras/{CAMERA}/latest.jpg").status_code == 200)
    picture = http.get(f"/api/cameras/{CAMERA}/latest.jpg")
    assert picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:2] == b"\xff\xd8" and picture.headers["x-frame-number"] == "1"
    again = http.get(
        f"/api/cameras/{CAMERA}/latest.jpg", headers={"If-None-Match": picture.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content  # unchanged: nothing resent
    tile = http.get("/api/cameras").json()["cameras"][0]
    assert tile["faces"] == 1 and tile["submitted"] == 1 and tile["processed"] == 0
    assert http.get("/api/cameras/not%20an%20id/latest.jpg").status_code == 404


def test_events_resume_after_the_last_event_id(
    live: WebService, http: httpx.Client, redis_conn: redis.Redis[bytes], web_settings: Settings
) -> None:
    history = http.get(f"/api/cameras/{CAMERA}/history").json()
    start = history["last_event_id"]
    for number in range(1, 4):
        publish(redis_conn, web_settings, CAMERA, number)

    with http.stream("GET", f"/api/cameras/{CAMERA}/events", headers={"Last-Event-ID": start}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        first = sse_events(r, 3)
    assert [int(e["data"].split('"frame_number":')[1].split(",")[0]) for e in first] == [1, 2, 3]

    with http.stream(
        "GET", f"/api/cameras/{CAMERA}/events", headers={"Last-Event-ID": first[0]["id"]}
    ) as r:
        resumed = sse_events(r, 2)
    assert [e["id"] for e in resumed] == [e["id"] for e in first[1:]]  # nothing lost, no repeat
    bad = http.get(f"/api/cameras/{CAMERA}/events", headers={"Last-Event-ID": "0-0"})
    assert bad.status_code == 400 and "expected '<results id>,<tracks id>'" in bad.text


@pytest.mark.parametrize("path", ["events", "stream.mjpg"])
def test_a_viewer_that_goes_frees_its_stream(
    live: WebService,
    http: httpx.Client,
    redis_conn: redis.Redis[bytes],
    web_settings: Settings,
    path: str,
) -> None:
    kind = "events" if path == "events" else "mjpeg"
    submit_frame(redis_conn, web_settings, CAMERA, 1)
    publish(redis_conn, web_settings, CAMERA, 1)
    assert open_streams(http, kind) == 0
    with (
        httpx.Client(base_url=live.url, timeout=10.0) as viewer,
        viewer.stream("GET", f"/api/cameras/{CAMERA}/{path}") as response,
    ):
        chunks = response.iter_bytes()  # held: a dropped iterator closes the response
        next(chunks)  # it is streaming
        assert open_streams(http, kind) == 1
    assert wait_for(lambda: open_streams(http, kind) == 0, 5.0)  # the viewer went: freed


def test_wrong_or_missing_credentials_get_401_and_never_see_a_secret(
    settings: Settings, redis_conn: redis.Redis[bytes]
) -> None:
    secured = settings.with_changes(web_port=free_port(), web_token=TOKEN)
    with background(secured) as service, httpx.Client(base_url=service.url) as client:
        for headers in ({}, {"Authorization": "Bearer wrong-wrong-wrong-wrong"}):
            refused = client.get("/api/cameras", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Basic")
            assert TOKEN not in refused.text
        wrong_basic = client.get("/", auth=("viewer", "not-the-token-at-all"))
        assert wrong_basic.status_code == 401
        assert client.get("/", auth=("viewer", TOKEN)).status_code == 200
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "ferstream_web_unauthorized_total 3.0" in ok.text
        assert TOKEN not in ok.text
        assert client.get("/healthz").status_code == 200  # says only "ok"


def test_ferstream_web_refuses_a_non_local_bind_without_credentials(settings: Settings) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FERSTREAM_WEB")},
        "REDIS_URL": settings.redis_url or "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ferstream.cli", "web", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "refusing to serve the live view on 0.0.0.0" in done.stderr
    assert "FERSTREAM_WEB_TOKEN" in done.stderr


def test_a_drawing_another_renderer_left_in_redis_is_served_from_its_key(
    http: httpx.Client, redis_conn: redis.Redis[bytes], web_settings: Settings
) -> None:
    from common.keys import rendered_frame
    from web.snapshot import Snapshot

    drawn = Snapshot("elsewhere", 9, time.time(), time.time(), time.time(), 0, True, b"\xff\xd8x")
    redis_conn.set(rendered_frame(web_settings.key_prefix, "elsewhere"), drawn.encode(), px=5000)
    picture = http.get("/api/cameras/elsewhere/latest.jpg")
    assert picture.status_code == 200 and picture.content == b"\xff\xd8x"
    assert picture.headers["x-frame-number"] == "9" and picture.headers["x-stale"] == "1"


def test_in_aggregate_mode_the_timeline_reads_the_cameras_closed_windows(
    redis_conn: redis.Redis[bytes], web_settings: Settings
) -> None:
    settings = web_settings.with_changes(results_mode="aggregate", aggregate_min_faces=3)
    start = close_window(redis_conn, settings, CAMERA, faces=4)
    close_window(redis_conn, settings, "hall", faces=2)  # under k: never published
    with background(settings) as service, httpx.Client(base_url=service.url) as http:
        config = http.get("/api/config").json()
        history = http.get(f"/api/cameras/{CAMERA}/history").json()
        few = http.get("/api/cameras/hall/history").json()
    assert config["results_mode"] == "aggregate" and config["aggregate_min_faces"] == 3
    [[first, end, counts]] = history["aggregates"]
    assert (first, end - first) == (start, settings.aggregate_window)
    assert counts[HAPPY] == 4 == sum(counts)
    assert history["results"] == [] and few["aggregates"] == []


def test_in_faces_mode_no_window_is_read(live: WebService, http: httpx.Client) -> None:
    assert http.get("/api/config").json()["results_mode"] == "faces"
    assert http.get(f"/api/cameras/{CAMERA}/history").json()["aggregates"] == []
