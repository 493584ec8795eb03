"""The Grafana dashboard and the alert rules read metrics the code really declares."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from prometheus_client import CollectorRegistry

from common.metrics import (
    BrokerCollector,
    ProducerMetrics,
    TrackMetrics,
    WebMetrics,
    WorkerMetrics,
)
from tests.monitoring import (
    alert_rules,
    dashboard,
    dashboard_panels,
    dashboard_queries,
    metric_names,
)


@dataclass
class IdlePool:
    pids: list[int] = field(default_factory=list)
    worker_name_prefix: str = "nobody."
    restarts: int = 0


def declared_names(connection: redis.Redis[bytes]) -> set[str]:
    """Every ferstream_* series name the workers, producers, pool exporter, track service
    and live view expose."""
    registry = CollectorRegistry()
    WorkerMetrics.create(registry)
    ProducerMetrics.create(registry)
    TrackMetrics.create(registry)
    WebMetrics.create(registry)
    registry.register(BrokerCollector(connection, ["ferstream-frames"], IdlePool()))
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in registry.collect()
    }


def test_every_panel_has_a_title_a_unit_and_queries_on_the_chosen_datasource() -> None:
    for panel in dashboard_panels():
        assert panel["title"], panel
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']}: empty query"


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        assert grid["x"] + grid["w"] <= 24


def test_the_dashboard_covers_what_operators_watch() -> None:
    titles = {panel["title"] for panel in dashboard_panels()}
    assert {
        "Throughput per camera",
        "End-to-end latency",
        "Time per stage (p95)",
        "Queue depth",
        "Workers",
        "Faces per camera",
        "Emotion mix",
        "Failures by reason",
        "Faces per frame, frames per model call",
        "Redis memory",
        "Camera sources up",
        "Source reconnects and failed reads",
        "Live view streams",
        "Live view renders and refusals",
        "Live tracks per camera",
        "Track lag (p95) and skipped results",
    } <= titles
    latency = next(p for p in dashboard_panels() if p["title"] == "End-to-end latency")
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p95", "p99"]
    assert latency["fieldConfig"]["defaults"]["unit"] == "s"


def test_a_camera_variable_filters_the_per_camera_panels() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    camera = variables["camera"]
    assert camera["definition"] == "label_values(ferstream_frames_processed_total, camera)"
    assert (camera["includeAll"], camera["multi"], camera["allValue"]) == (True, True, ".*")
    assert variables["datasource"]["query"] == "prometheus"
    per_camera = [q for _, q in dashboard_queries() if "ferstream_frames_submitted" in q]
    assert per_camera
    assert all('camera=~".*"' in q for q in per_camera)


def test_dashboard_and_rules_read_only_declared_metrics(redis_conn: redis.Redis[bytes]) -> None:
    declared = declared_names(redis_conn)
    histograms = {"ferstream_end_to_end_latency_seconds", "ferstream_faces_per_frame"}
    assert histograms <= declared
    for title, query in dashboard_queries():
        unknown = metric_names(query) - declared
        assert not unknown, f"panel {title!r} reads undeclared {unknown}"
    for rule in alert_rules():
        unknown = metric_names(rule["expr"]) - declared
        assert not unknown, f"alert {rule['alert']} reads undeclared {unknown}"


def test_the_emotion_mix_uses_the_colours_of_analyze_and_the_live_view() -> None:
    from common.palette import emotion_css

    [panel] = [p for p in dashboard_panels() if p["title"] == "Emotion mix"]
    fixed = {
        o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
        for o in panel["fieldConfig"]["overrides"]
        if o["matcher"]["id"] == "byName"
    }
    assert fixed == emotion_css()
