"""The Prometheus files pass Prometheus's own checks, and the alert rules their unit tests."""

from __future__ import annotations

import re
import subprocess

from common.metrics import LATENCY_BUCKETS, LATENCY_SLO_SECONDS
from tests.monitoring import (
    ALERT_RULES,
    ALERT_TESTS,
    PROMETHEUS_CONFIG,
    alert_rules,
    load_yaml,
    require_binary,
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], capture_output=True, text=True, timeout=120
    )


def test_the_compose_prometheus_config_is_valid_with_its_rules() -> None:
    checked = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout + checked.stderr


def test_the_alert_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(ALERT_RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(alert_rules())} rules found" in checked.stdout + checked.stderr


def test_the_alert_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", str(ALERT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {
        case["alertname"]
        for test in load_yaml(ALERT_TESTS)["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} == fired


def test_the_latency_alert_uses_the_documented_slo_and_a_bucket_boundary() -> None:
    [rule] = [r for r in alert_rules() if r["alert"] == "FerstreamLatencySLOBreached"]
    threshold = float(re.findall(r">\s*([0-9.]+)\s*$", rule["expr"].strip())[0])
    assert threshold == LATENCY_SLO_SECONDS == 0.25
    assert LATENCY_SLO_SECONDS in LATENCY_BUCKETS  # p95 against the SLO is exact, not guessed
    assert "histogram_quantile(0.95" in rule["expr"]


def test_every_scaled_service_is_found_by_dns_and_every_job_matches_the_rules() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job, service, port in (
        ("ferstream-worker", "worker", 9100),
        ("ferstream-producer", "producer", 9101),
        ("ferstream-tracks", "tracks", 9102),
        ("ferstream-web", "web", 9103),
    ):
        [discovery] = jobs[job]["dns_sd_configs"]
        assert (discovery["names"], discovery["type"], discovery["port"]) == ([service], "A", port)
    assert jobs["redis"]["static_configs"] == [{"targets": ["redis-exporter:9121"]}]
    expressions = " ".join(rule["expr"] for rule in alert_rules())
    assert set(re.findall(r'job="([^"]+)"', expressions)) <= set(jobs)
