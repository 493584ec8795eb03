"""A real Prometheus scrapes a real ``ferstream web`` as the compose stack's job does: on
the live view's own metrics port, without the viewers' credentials, which the web port
(its ``/metrics`` included) still asks of everyone else."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring import PROMETHEUS_CONFIG, dashboard_queries, load_yaml, require_binary
from tests.monitoring.prometheus_server import free_port, query, start_prometheus, stop, wait_for

pytestmark = pytest.mark.slow

WEB_JOB = "ferstream-web"
LIVE_VIEW_PANELS = ("Live view streams", "Live view renders and refusals")


@dataclass
class LiveView:
    url: str  # the web port, for viewers
    metrics_url: str  # the metrics port, for Prometheus
    token: str
    prometheus: str  # base URL of the Prometheus HTTP API


def web_job(metrics_port: int) -> dict[str, Any]:
    """The repository's ``ferstream-web`` job, with a static loopback target."""
    jobs = load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
    job: dict[str, Any] = next(j for j in jobs if j["job_name"] == WEB_JOB)
    assert job["dns_sd_configs"][0]["names"] == ["web"]  # compose's service name
    job.pop("dns_sd_configs")
    return {**job, "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}


@pytest.fixture
def live_view(redis_url: str, tmp_path: Path) -> Iterator[LiveView]:
    require_binary("prometheus")
    web_port, metrics_port = free_port(), free_port()
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "FERSTREAM_WEB_TOKEN": token,
        "FERSTREAM_METRICS_ADDR": "127.0.0.1",
    }
    command = [sys.executable, "-c", "from ferstream.cli import run; run()", "web"]
    ports = ["--port", str(web_port), "--metrics-port", str(metrics_port)]
    with ExitStack() as stack:
        log = stack.enter_context((tmp_path / "web.log").open("wb"))
        process = subprocess.Popen(
            [*command, *ports], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(stop, process)
        config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [web_job(metrics_port)]}
        prometheus = start_prometheus(stack, tmp_path, json.dumps(config))
        url = f"http://127.0.0.1:{web_port}"
        wait_for("the live view to answer", lambda: _status(f"{url}/healthz") == 200, 30)
        yield LiveView(url, f"http://127.0.0.1:{metrics_port}/metrics", token, prometheus)


def _status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _values(base: str, expr: str) -> list[float]:
    answer = query(base, expr)
    assert answer["status"] == "success", (expr, answer)
    return [float(each["value"][1]) for each in answer["data"]["result"]]


def test_prometheus_scrapes_the_live_view_without_its_viewers_credentials(
    live_view: LiveView,
) -> None:
    base = live_view.prometheus
    wait_for("the web target up", lambda: _values(base, f'up{{job="{WEB_JOB}"}}') == [1.0])

    # a viewer's page stream, open while Prometheus looks
    request = urllib.request.Request(f"{live_view.url}/api/cameras/cam-web/events")
    request.add_header("Authorization", f"Bearer {live_view.token}")
    stream = urllib.request.urlopen(request, timeout=10)
    try:
        expr = 'ferstream_web_open_streams{kind="events"}'
        wait_for("the open stream in Prometheus", lambda: _values(base, expr) == [1.0])
    finally:
        stream.close()

    # someone without the token: refused on the web port, and counted
    assert _status(f"{live_view.url}/metrics") == 401
    assert _status(f"{live_view.url}/", "not-the-token") == 401
    refused = "ferstream_web_unauthorized_total"
    wait_for("the refusals in Prometheus", lambda: _values(base, refused) == [2.0])

    for title, promql in dashboard_queries():
        if title in LIVE_VIEW_PANELS:
            _values(base, promql)  # each of the panels' queries runs
    streams = dict(dashboard_queries())["Live view streams"]
    assert _values(base, streams)  # and the streams panel has data

    # the metrics port serves the same registry the web port's /metrics does
    with urllib.request.urlopen(live_view.metrics_url, timeout=5) as response:
        scraped = response.read().decode()
    assert "ferstream_web_renders_total" in scraped and live_view.token not in scraped
