"""``ferstream bench-web``'s judging: added CPU is the web process's plus Redis's increase
over the host; memory is flat only if it stops growing and every stream closed."""

from __future__ import annotations

from typing import Any

import pytest

from ferstream.bench.web_bench import WebBenchOptions, WebBenchResult, Window
from ferstream.bench.web_report import markdown, verdicts


def result(web_cpu: float, redis_cpu: float, p95: float, memory: dict[str, Any]) -> WebBenchResult:
    return WebBenchResult(
        options={**vars(WebBenchOptions()), "out": "x"},
        host={"cores": 2, "load_average": [1.0, 1.0, 1.0], "nice": 0},
        baseline=Window(seconds=60.0, workers=60.0, redis=3.0, results=4000),
        served=Window(seconds=60.0, workers=60.0, redis=redis_cpu, web=web_cpu, results=4000),
        seen={"requests": 1, "pictures": 1, "not_modified": 0, "errors": 0, "sessions": 0},
        frame_latency_ms={"count": 10, "p50": 50.0, "p95": p95, "p99": p95, "max": p95},
        event_latency_ms={"count": 10, "p50": 5.0, "p95": 9.0, "p99": 9.0, "max": 9.0},
        memory=memory,
    )


FLAT = {
    "settled_first_half_peak_mib": 120.0,
    "settled_second_half_peak_mib": 121.0,
    "open_streams_after": {"events": 0.0, "mjpeg": 0.0},
}


def test_added_cpu_counts_the_web_process_and_redis_increase_over_the_host() -> None:
    # web 3 CPU s and Redis +1.8 CPU s over 60 s on 2 cores: (0.05 + 0.03) / 2 = 4%
    measured = result(web_cpu=3.0, redis_cpu=4.8, p95=120.0, memory=FLAT)
    assert measured.added_cpu_share() == pytest.approx(0.04)
    judged = verdicts(measured)
    assert judged["cpu"]["met"] and judged["latency"]["met"] and judged["memory"]["met"]
    assert "| met |" in markdown(measured)


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"web_cpu": 6.0}, "cpu"),  # 5% from the web process alone, plus Redis's
        ({"p95": 301.0}, "latency"),
        ({"memory": {**FLAT, "settled_second_half_peak_mib": 130.0}}, "memory"),
        ({"memory": {**FLAT, "open_streams_after": {"events": 1.0, "mjpeg": 0.0}}}, "memory"),
    ],
)
def test_each_target_fails_when_its_figure_is_past_it(changes: dict[str, Any], failed: str) -> None:
    values: dict[str, Any] = {"web_cpu": 3.0, "redis_cpu": 4.8, "p95": 120.0, "memory": FLAT}
    values.update(changes)
    judged = verdicts(result(**values))
    assert not judged[failed]["met"]
    assert all(v["met"] for k, v in judged.items() if k != failed)
