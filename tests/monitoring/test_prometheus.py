"""A real Prometheus scraping a real worker pool and a real producer.

An embedded Redis, a ``WorkerPool`` of two ``python -m worker`` processes serving one
metrics endpoint, a producer on synthetic scenes with its own endpoint, and the Debian
``prometheus`` binary scraping both every second with the repository's alert rules
loaded. Everything is asserted through Prometheus's HTTP API, as Grafana would see it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from common.connection import connect
from common.metrics import ProducerMetrics
from common.metrics_server import serve_metrics, temporary_multiprocess_dir
from common.redis_server import EmbeddedRedis
from common.settings import Settings
from producer.runner import run_producer
from producer.sources import open_source
from producer.submit import FrameSubmitter
from tests.monitoring import (
    ALERT_RULES,
    PRODUCER_JOB,
    WORKER_JOB,
    alert_rules,
    dashboard_queries,
    require_binary,
)
from tests.monitoring.prometheus_server import (
    WAIT_SECONDS,
    get_json,
    query,
    start_prometheus,
    wait_for,
)
from worker.exporter import serve_pool_metrics
from worker.healthcheck import check
from worker.pool import WorkerPool, wait_for_workers

pytestmark = pytest.mark.slow

WORKERS = 2
CAMERA = "cam-prom"
WORKER_START_SECONDS = 150.0  # two processes importing TensorFlow on a shared machine
PRODUCER_SECONDS = 90.0  # longer than the tests need; stopped at teardown
# Panels that must show data once frames flow (the rest may rightly be empty here).
MUST_HAVE_DATA = {
    "Frames processed",
    "p95 end-to-end latency",
    "Throughput per camera",
    "End-to-end latency",
    "Time per stage (p95)",
}


@dataclass
class Stack:
    prometheus: str  # base URL of the Prometheus HTTP API
    pool_metrics: str  # the pool's /metrics URL
    pool: WorkerPool
    metrics_dir: Path


def prometheus_config(pool_port: int, producer_port: int) -> str:
    """The compose config's jobs, with static localhost targets and a 1 s interval."""
    return json.dumps(  # JSON is YAML
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERT_RULES)],
            "scrape_configs": [
                {
                    "job_name": WORKER_JOB,
                    "static_configs": [{"targets": [f"127.0.0.1:{pool_port}"]}],
                },
                {
                    "job_name": PRODUCER_JOB,
                    "static_configs": [{"targets": [f"127.0.0.1:{producer_port}"]}],
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def stack(fer_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus")  # skip before starting anything
    folder = tmp_path_factory.mktemp("prometheus")
    with ExitStack() as stack:
        server = stack.enter_context(EmbeddedRedis())
        settings = Settings(
            redis_url=server.url,
            concurrency=WORKERS,
            metrics_addr="127.0.0.1",
            max_frame_age=30.0,  # a shared two-core machine: count frames, not staleness
        )
        connection = connect(server.url)
        stack.callback(connection.close)
        metrics_dir = stack.enter_context(temporary_multiprocess_dir())
        pool = WorkerPool(settings, log_dir=str(folder), metrics_dir=metrics_dir)
        pool_endpoint = stack.enter_context(serve_pool_metrics(pool, port=0))
        producer_registry = CollectorRegistry()
        producer_metrics = ProducerMetrics.create(producer_registry)
        producer_endpoint = stack.enter_context(serve_metrics(producer_registry, 0, "127.0.0.1"))
        base = start_prometheus(
            stack, folder, prometheus_config(pool_endpoint.port, producer_endpoint.port)
        )
        stack.enter_context(pool)
        stop = threading.Event()
        stack.callback(stop.set)
        supervisor = threading.Thread(target=pool.supervise, args=(stop,), daemon=True)
        supervisor.start()
        wait_for_workers(connection, settings, WORKERS, WORKER_START_SECONDS)

        def produce() -> None:
            with open_source(f"scenes:{fer_data_dir}", seed=5) as source:
                run_producer(
                    source,
                    FrameSubmitter(connection, settings, metrics=producer_metrics),
                    CAMERA,
                    target_fps=4,
                    jpeg_quality=85,
                    max_side=640,
                    duration=PRODUCER_SECONDS,
                    stop=stop,
                )

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        stack.callback(producer.join, 10)
        stack.callback(stop.set)  # runs first: stops the producer, then the pool
        yield Stack(base, f"http://127.0.0.1:{pool_endpoint.port}/metrics", pool, metrics_dir)


def test_prometheus_sees_the_pool_and_the_producer_up(stack: Stack) -> None:
    def targets() -> dict[str, str]:
        active = get_json(f"{stack.prometheus}/api/v1/targets")["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in active}

    wait_for("both targets up", lambda: targets() == {WORKER_JOB: "up", PRODUCER_JOB: "up"})
    up = query(stack.prometheus, f'sum(up{{job="{WORKER_JOB}"}})')["data"]["result"]
    assert float(up[0]["value"][1]) == 1  # one target for the whole pool of two processes


def test_frames_processed_rate_is_positive(stack: Stack) -> None:
    expr = "sum(rate(ferstream_frames_processed_total[20s]))"

    def rate() -> float:
        result = query(stack.prometheus, expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    wait_for("a positive frames-processed rate", lambda: rate() > 0)
    submitted = query(stack.prometheus, f'ferstream_frames_submitted_total{{camera="{CAMERA}"}}')
    assert float(submitted["data"]["result"][0]["value"][1]) > 0


def test_one_scrape_covers_both_worker_processes(stack: Stack) -> None:
    wait_for("the pool to be healthy", lambda: check(stack.pool_metrics) is None)

    def series(expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = query(stack.prometheus, expr)["data"]["result"]
        return result

    wait_for("two registered workers", lambda: _value(series("sum(ferstream_workers)")) == 2)
    assert _value(series("ferstream_worker_processes")) == WORKERS
    assert _value(series("ferstream_broker_up")) == 1
    [info] = series("ferstream_model_info")
    assert info["metric"]["model_id"].startswith("ferstream-mnv2-")
    # each live worker process writes its own files; the pool marks them dead when they exit
    live = sorted(stack.metrics_dir.glob("gauge_livemax_*.db"))
    assert {int(p.stem.rsplit("_", 1)[1]) for p in live} == set(stack.pool.pids)


def test_every_dashboard_query_runs_and_the_key_panels_have_data(stack: Stack) -> None:
    wait_for(
        "latency histograms in Prometheus",
        lambda: bool(
            query(stack.prometheus, "ferstream_end_to_end_latency_seconds_count")["data"]["result"]
        ),
    )
    time.sleep(3)  # a few more scrapes, so every rate() has two samples with traffic between

    def empty_panels() -> set[str]:
        """Panels none of whose queries returns a series (a dropped-frames query may be empty)."""
        with_data, titles = set(), set()
        for title, expr in dashboard_queries():
            answer = query(stack.prometheus, expr)
            assert answer["status"] == "success", f"panel {title!r}: {answer} for {expr}"
            titles.add(title)
            if answer["data"]["result"]:
                with_data.add(title)
        return titles - with_data

    deadline = time.monotonic() + WAIT_SECONDS
    while missing := MUST_HAVE_DATA & empty_panels():
        if time.monotonic() > deadline:
            pytest.fail(f"expected data in every key panel, got none in {sorted(missing)}")
        time.sleep(1)
    camera_values = get_json(
        f"{stack.prometheus}/api/v1/label/camera/values?"
        + urllib.parse.urlencode({"match[]": "ferstream_frames_processed_total"})
    )
    assert CAMERA in camera_values["data"]  # the dashboard's camera variable


def test_every_alert_rule_is_loaded_and_evaluates_without_error(stack: Stack) -> None:
    def loaded() -> list[dict[str, Any]]:
        groups = get_json(f"{stack.prometheus}/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    never = "0001-01-01"  # Prometheus's lastEvaluation of a rule not evaluated yet
    wait_for(
        "every rule evaluated once",
        lambda: all(not rule["lastEvaluation"].startswith(never) for rule in loaded()),
    )
    rules = loaded()
    assert {rule["name"] for rule in rules} == {rule["alert"] for rule in alert_rules()}
    for rule in rules:
        assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        answer = query(stack.prometheus, rule["query"])
        assert answer["status"] == "success", f"{rule['name']}: {answer}"
    firing = {rule["name"] for rule in rules if rule["state"] == "firing"}
    assert "FerstreamNoWorkerTargets" not in firing
    assert "FerstreamWorkerTargetDown" not in firing


def test_a_killed_worker_is_marked_dead_and_its_replacement_counted(stack: Stack) -> None:
    victim = stack.pool.pids[0]
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        pids = stack.pool.pids
        return victim not in pids and len(pids) == WORKERS

    wait_for("the pool to replace the killed worker", restarted, timeout=10)
    registered = 'sum(ferstream_workers{state=~"idle|busy"})'

    def scraped(expr: str) -> float:
        return _value(query(stack.prometheus, expr)["data"]["result"])

    wait_for("the killed worker out of the count", lambda: scraped(registered) == WORKERS - 1)
    wait_for(
        "the replacement to load its model and register",
        lambda: scraped(registered) == WORKERS,
        timeout=WORKER_START_SECONDS,
    )
    assert not list(stack.metrics_dir.glob(f"gauge_livemax_{victim}.db"))
    assert list(stack.metrics_dir.glob(f"counter_{victim}.db"))  # its counts stay counted
    assert scraped("ferstream_worker_restarts_total") == 1
    assert scraped("ferstream_worker_processes") == WORKERS


def _value(result: list[dict[str, Any]]) -> float:
    return float(result[0]["value"][1]) if result else float("nan")
