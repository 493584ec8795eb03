"""Helpers for the monitoring tests: the repository's monitoring files and their PromQL.

The dashboard's expressions use Grafana variables; ``promql`` turns them into what
Grafana would send to Prometheus, so a real Prometheus can run them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus.yml"
ALERT_RULES = MONITORING / "alerts.yml"
ALERT_TESTS = MONITORING / "tests" / "alerts_test.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "ferstream.json"
GRAFANA_PROVISIONING = MONITORING / "grafana" / "provisioning"

WORKER_JOB = "ferstream-worker"
PRODUCER_JOB = "ferstream-producer"

# Grafana's variables, as the dashboard's defaults resolve them ($camera: All -> ".*").
GRAFANA_VARIABLES = {"$__rate_interval": "20s", "$camera": ".*"}


def require_binary(name: str) -> str:
    """Path of ``name`` on PATH, else skip (``./dev test`` installs it where it can)."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} not found on PATH: install the Debian package "
            f"(`apt-get install {'prometheus' if name in {'prometheus', 'promtool'} else name}`"
            "; ./dev test does it when run as root)"
        )
    return found


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel but rows."""
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL as Grafana would send it) for every target of every panel."""
    return [
        (panel["title"], promql(target["expr"]))
        for panel in dashboard_panels()
        for target in panel["targets"]
    ]


def promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    leftover = re.findall(r"\$\w+", expr)
    assert not leftover, f"expected only known Grafana variables, got {leftover} in {expr}"
    return expr


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERT_RULES)["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The ferstream_* series an expression reads, histogram suffixes removed."""
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # label names
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    names = set(re.findall(r"\bferstream_[a-z_]+\b", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}
