"""The live view under its own ACL user ``web``, plain text and over TLS: it renders and
serves every page and stream with Redis's ACL log left empty, and may write nothing but
its annotated frames (not results, counters, frames or jobs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from common.acl import PRODUCER, WEB, WORKER
from common.connection import connect
from common.errors import AccessDenied
from common.keys import counts_hash, latest_frame, rendered_frame, results_stream
from common.settings import Settings
from tests.security.servers import Passwords, SecureRedis
from tests.web import close_window, publish, submit_frame
from tests.web.conftest import free_port
from web.server import background

CAMERA = "door"


@pytest.fixture(params=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> SecureRedis:
    found: SecureRedis = request.getfixturevalue(
        "acl_redis" if request.param == "plain" else "tls_redis"
    )
    return found


@pytest.fixture
def web_settings(server: SecureRedis, passwords: Passwords) -> Iterator[Settings]:
    yield Settings(
        redis_url=server.url,
        redis_username=WEB,
        redis_password=passwords.roles[WEB],
        redis_tls_ca_file=server.client_tls().ca_file,
        web_port=free_port(),
    )


def wait_for(check: Callable[[], bool], seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_the_live_view_renders_and_serves_as_the_web_user(
    server: SecureRedis, web_settings: Settings
) -> None:
    producer, worker = connect(server.access(PRODUCER)), connect(server.access(WORKER))
    plain = Settings(redis_url=server.url)
    submit_frame(producer, plain, CAMERA, 1)  # the producer writes the newest frame
    with background(web_settings) as service, httpx.Client(base_url=service.url) as http:
        assert wait_for(lambda: bool(http.get("/api/cameras").json()["cameras"]))
        last = http.get(f"/api/cameras/{CAMERA}/history").json()["last_event_id"]
        for number in (1, 2):
            publish(worker, plain, CAMERA, number)
        assert wait_for(lambda: http.get(f"/api/cameras/{CAMERA}/latest.jpg").status_code == 200)
        with http.stream(
            "GET", f"/api/cameras/{CAMERA}/events", headers={"Last-Event-ID": last}
        ) as events:
            lines = events.iter_lines()
            assert any(line == "event: result" for line, _ in zip(lines, range(20), strict=False))
        with http.stream("GET", f"/api/cameras/{CAMERA}/stream.mjpg") as frames:
            chunks = frames.iter_bytes()
            assert b"image/jpeg" in next(chunks)
        assert http.get("/api/cameras").json()["cameras"][0]["submitted"] == 1
    assert server.acl_log() == []


def test_the_live_view_reads_aggregate_windows_as_the_web_user(
    server: SecureRedis, web_settings: Settings
) -> None:
    """Results mode aggregate: the windows a worker closed, read for the timeline."""
    aggregate = {"results_mode": "aggregate", "aggregate_min_faces": 2}
    worker = connect(server.access(WORKER))
    close_window(worker, Settings(redis_url=server.url, **aggregate), CAMERA, faces=3)
    with (
        background(web_settings.with_changes(**aggregate)) as service,
        httpx.Client(base_url=service.url) as http,
    ):
        windows = http.get(f"/api/cameras/{CAMERA}/history").json()["aggregates"]
    assert [sum(counts) for _, _, counts in windows] == [3]
    assert server.acl_log() == []


def _raw(*command: str) -> Callable[[redis.Redis[bytes]], object]:
    return lambda client: client.execute_command(*command)


REFUSED = [
    ("xadd", _raw("XADD", results_stream("ferstream", CAMERA), "*", "result", "forged")),
    ("set", _raw("SET", latest_frame("ferstream", CAMERA), "forged")),  # frames: read only
    ("hincrby", _raw("HINCRBY", counts_hash("ferstream", CAMERA), "processed", "1")),
    ("hgetall", _raw("HGETALL", "rq:job:any")),
    ("publish", _raw("PUBLISH", "ferstream:results:door", "forged")),
    ("del", _raw("DEL", rendered_frame("ferstream", CAMERA))),
    ("flushdb", _raw("FLUSHDB")),
    ("keys", _raw("KEYS", "*")),
]


@pytest.mark.parametrize(("command", "attempt"), REFUSED, ids=[c for c, _ in REFUSED])
def test_the_web_user_is_refused_all_but_its_drawings(
    acl_redis: SecureRedis,
    passwords: Passwords,
    command: str,
    attempt: Callable[[redis.Redis[bytes]], object],
) -> None:
    client = connect(acl_redis.access(WEB))
    with pytest.raises((AccessDenied, redis.ResponseError)) as caught:
        attempt(client)
    for secret in passwords.all():
        assert secret not in str(caught.value)
    assert [entry for entry in acl_redis.acl_log() if entry["username"] == WEB]
    client.set(rendered_frame("ferstream", CAMERA), b"drawing", px=1000)  # what it may write
