"""``ferstream bench-web``'s report: the issue's three targets judged, as markdown and JSON
(``docs/bench-web/bench-web.md`` and ``.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ferstream.bench.web_bench import WebBenchResult

CPU_TARGET = 0.05  # of the host, added by serving
LATENCY_TARGET_MS = 300.0  # p95, result published -> frame on the page
FLAT_MARGIN = 0.05  # memory: the settled run's second half peaks at most this much higher
FLAT_FLOOR_MIB = 2.0


def verdicts(result: WebBenchResult) -> dict[str, dict[str, Any]]:
    """Each target: the measured figure and whether it holds."""
    added = result.added_cpu_share()
    p95 = result.frame_latency_ms.get("p95")
    memory = result.memory
    first, second = (
        memory.get("settled_first_half_peak_mib"),
        memory.get("settled_second_half_peak_mib"),
    )
    flat: bool | None = (
        first is not None
        and second is not None
        and second <= first * (1 + FLAT_MARGIN) + FLAT_FLOOR_MIB
        and all(v == 0 for v in memory.get("open_streams_after", {}).values())
    )
    measured = result.measured_cpu
    if not memory:
        flat = None
    return {
        "cpu": {
            "added_share": round(added, 4) if measured else None,
            "target": CPU_TARGET,
            "met": added <= CPU_TARGET if measured else None,
        },
        "latency": {
            "p95_ms": p95,
            "target_ms": LATENCY_TARGET_MS,
            "met": None if p95 is None else p95 <= LATENCY_TARGET_MS,
        },
        "memory": {"first_half_peak_mib": first, "second_half_peak_mib": second, "met": flat},
    }


def write_report(result: WebBenchResult, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = {**asdict(result), "verdicts": verdicts(result)}
    data["memory"] = {k: v for k, v in data["memory"].items() if k != "samples"}
    data["memory"]["rss_samples_mib"] = [
        [round(t, 1), round(m, 2)] for t, m in result.memory.get("samples", [])
    ]
    json_path, md_path = out / "bench-web.json", out / "bench-web.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown(result))
    return md_path, json_path


def _share(seconds: float, window: float, cores: int) -> str:
    return f"{seconds / window:.3f} CPU s/s ({seconds / window / cores:.1%} of the host)"


def markdown(result: WebBenchResult) -> str:
    o, base, served = result.options, result.baseline, result.served
    cores = result.cores
    judged = verdicts(result)
    ok = {True: "met", False: "**not met**", None: "not measured in this run"}
    memory = result.memory
    frame, events = result.frame_latency_ms, result.event_latency_ms
    lines = [
        "# bench-web: the live view's cost and speed",
        "",
        f"`ferstream bench-web`: {o['cameras']} synthetic cameras at {o['fps']:g} fps each, a "
        f"{o['workers']}-worker pool, a host of {cores} cores (load average at the end "
        f"{', '.join(f'{x:.2f}' for x in result.host['load_average'])}; the bench ran at "
        f"nice {result.host['nice']}).",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        f"| serving {o['cameras']} cameras to {o['grid_viewers'] + o['page_viewers']} viewers "
        f"adds <= 5% CPU | {result.added_cpu_share():.1%} of the host "
        f"(web process + Redis's increase) | {ok[judged['cpu']['met']]} |",
        f"| a new frame reaches the page <= 300 ms p95 after its result | "
        f"{frame['p95']} ms p95 (MJPEG, {frame['count']} frames) | "
        f"{ok[judged['latency']['met']]} |",
        f"| memory flat with {o['churn_viewers']} viewers coming and going "
        f"({o['churn_seconds']:g} s) | peaks {memory.get('settled_first_half_peak_mib')} -> "
        f"{memory.get('settled_second_half_peak_mib')} MiB, streams open after: "
        f"{memory.get('open_streams_after')} | {ok[judged['memory']['met']]} |",
        "",
        "## CPU over each window",
        "",
        "| window | seconds | frames processed | workers' load | workers | Redis | web process "
        "| host busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, window in (
        ("baseline (no live view)", base),
        ("served (live view + viewers)", served),
    ):
        if window.seconds <= 0:
            lines.append(f"| {name} | not run | | | | | | |")
            continue
        lines.append(
            f"| {name} | {window.seconds:.1f} | {window.results} | "
            f"{result.worker_load(window):.0%} | {_share(window.workers, window.seconds, cores)} | "
            f"{_share(window.redis, window.seconds, cores)} | "
            f"{_share(window.web, window.seconds, cores)} | "
            f"{_share(window.host_busy, window.seconds, cores)} |"
        )
    seen = result.seen
    lines += [
        "",
        "Workers' load: their CPU seconds over their capacity (one thread each). Added CPU: the "
        "web process's (app and renderer) plus Redis's increase over the baseline, over the "
        "host's capacity (cores x window). Host busy counts every process on the machine, "
        "other users' included (this host is shared), so it is context, not the measure.",
        "",
        f"Viewers in the served window: {o['grid_viewers']} on the grid (figures and "
        f"{o['cameras']} pictures a second each, `If-None-Match`), {o['page_viewers']} on a "
        f"camera page (MJPEG and SSE). Requests {seen['requests']}, pictures "
        f"{seen['pictures']}, unchanged (304) {seen['not_modified']}, errors {seen['errors']}.",
        "",
        "## Latency, result published -> on the page",
        "",
        "| path | count | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| MJPEG frame (camera page) | {frame['count']} | {frame['p50']} | {frame['p95']} | "
        f"{frame['p99']} | {frame['max']} |",
        f"| SSE result event | {events['count']} | {events['p50']} | {events['p95']} | "
        f"{events['p99']} | {events['max']} |",
        "",
        "An MJPEG frame counts as on the page when a browser shows it: once the next "
        "part's headers have arrived (Chromium ends a part there), which the stream sends "
        "at its next look (40 ms) as a copy of the frame if no newer one has come.",
        "",
        "## Memory under churn",
        "",
        f"{o['churn_viewers']} viewers, each opening a camera page (history, MJPEG, SSE), "
        f"staying 1-4 s and leaving, for {o['churn_seconds']:g} s: {memory.get('sessions')} "
        f"sessions, {memory.get('errors')} errors. The web process's RSS "
        f"{memory.get('rss_mib')} MiB; after the first third, the first half peaks at "
        f"{memory.get('settled_first_half_peak_mib')} MiB and the second at "
        f"{memory.get('settled_second_half_peak_mib')} MiB (a fitted slope of "
        f"{memory.get('slope_mib_per_hour')} MiB/h). Open streams after the last viewer "
        f"left: {memory.get('open_streams_after')}.",
        "",
    ]
    return "\n".join(lines)
