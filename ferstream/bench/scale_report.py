"""``ferstream bench-scale``: workers on two namespaced hosts against one host, and a
Sentinel failover under load; a markdown and JSON report under ``docs/bench-scale``.

Targets (issue 17): two hosts with one worker process each reach at least 0.9x the
throughput of one host with two processes, on the same cores; a Sentinel failover with no
operator leaves 0 frames unaccounted and the pipeline recovers within 10 s.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ferstream.bench.scale_throughput import LAYOUTS, ScalingResult, run_scaling
from ferstream.scale.failover import FailoverPlan, FailoverReport, run_failover
from ferstream.scale.netns import Lan

SCALING_TARGET = 0.9
RECOVERY_TARGET_SECONDS = 10.0


@dataclass(frozen=True)
class ScaleBenchOptions:
    data_dir: Path
    out: Path
    frames: int = 400
    rounds: int = 8
    failovers: int = 3
    note: str = ""


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_scale_bench(options: ScaleBenchOptions, say: Callable[[str], None] = print) -> Path:
    """Run both halves, write the report; the markdown's path."""
    conditions: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "commit": _commit(),
        "load_average_before": load_average(),
        "note": options.note,
    }
    scaling: ScalingResult | None = None
    why_not = Lan.permitted()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        if why_not is None:
            say(f"scaling: {options.rounds} rounds of {options.frames} frames per layout")
            scaling = run_scaling(
                Path(folder) / "scaling", options.data_dir, options.frames, options.rounds, say
            )
        else:
            say(f"scaling skipped: {why_not}")
        conditions["load_average_after_scaling"] = load_average()
        failovers: list[FailoverReport] = []
        for index in range(options.failovers):
            run = Path(folder) / f"failover-{index}"
            run.mkdir()
            report = run_failover(run, FailoverPlan(data_dir=options.data_dir))
            say(
                f"failover {index + 1}: promoted in {report.promotion_seconds:.1f}s, "
                f"recovered in {report.recovery_seconds:.1f}s, "
                f"{report.unaccounted} frames unaccounted"
            )
            failovers.append(report)
    conditions["load_average_after"] = load_average()
    summary = _summary(scaling, failovers, why_not)
    options.out.mkdir(parents=True, exist_ok=True)
    data = {
        "conditions": conditions,
        "summary": summary,
        "scaling": None if scaling is None else [asdict(r) for r in scaling.rounds],
        "failovers": [f.to_json() for f in failovers],
    }
    (options.out / "bench-scale.json").write_text(json.dumps(data, indent=2) + "\n")
    path = options.out / "bench-scale.md"
    path.write_text(markdown(conditions, summary, scaling, failovers))
    return path


def _summary(
    scaling: ScalingResult | None, failovers: list[FailoverReport], skipped: str | None
) -> dict[str, Any]:
    summary: dict[str, Any] = {"scaling_skipped": skipped}
    if scaling is not None:
        summary |= {
            "one_host_fps_median": round(scaling.median_fps("one-host"), 1),
            "two_hosts_fps_median": round(scaling.median_fps("two-hosts"), 1),
            "ratio": round(scaling.ratio, 3),
            "paired_ratio_median": round(statistics.median(scaling.paired_ratios), 3),
            "paired_ratio_range": [
                round(min(scaling.paired_ratios), 3),
                round(max(scaling.paired_ratios), 3),
            ],
            "scaling_met": scaling.ratio >= SCALING_TARGET,
        }
    if failovers:
        recovery = [f.recovery_seconds for f in failovers]
        summary |= {
            "recovery_seconds_median": statistics.median(recovery),
            "recovery_seconds_max": max(recovery),
            "promotion_seconds_max": max(f.promotion_seconds for f in failovers),
            "frames_unaccounted": sum(f.unaccounted for f in failovers),
            "frames_lost_by_replication": sum(
                c.lost_by_replication for f in failovers for c in f.cameras
            ),
            "failover_met": max(recovery) <= RECOVERY_TARGET_SECONDS
            and all(f.unaccounted == 0 for f in failovers),
        }
    return summary


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not measured"}[met]


def markdown(
    conditions: dict[str, Any],
    summary: dict[str, Any],
    scaling: ScalingResult | None,
    failovers: list[FailoverReport],
) -> str:
    lines = [
        "# ferstream bench-scale",
        "",
        f"{conditions['date']}, {conditions['cores']} cores ({conditions['machine']}), "
        f"commit {conditions['commit']}. Load average (1 min): "
        f"{conditions['load_average_before']} before, "
        f"{conditions['load_average_after_scaling']} after the scaling runs, "
        f"{conditions['load_average_after']} at the end. {conditions['note']}",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    if scaling is not None:
        lines.append(
            f"| two hosts x 1 process >= {SCALING_TARGET}x one host x 2 processes | "
            f"{summary['ratio']:.2f}x ({summary['two_hosts_fps_median']} vs "
            f"{summary['one_host_fps_median']} frames/s, medians; within a round: median "
            f"{summary['paired_ratio_median']:.2f}x, {summary['paired_ratio_range'][0]:.2f}-"
            f"{summary['paired_ratio_range'][1]:.2f}x) | {_verdict(summary['scaling_met'])} |"
        )
    else:
        lines.append(f"| scaling | skipped: {summary['scaling_skipped']} | not measured |")
    if failovers:
        lines += [
            f"| Sentinel failover recovers in <= {RECOVERY_TARGET_SECONDS:.0f} s | "
            f"{summary['recovery_seconds_median']:.2f} s median, "
            f"{summary['recovery_seconds_max']:.2f} s worst of {len(failovers)} | "
            f"{_verdict(summary['failover_met'])} |",
            f"| frames unaccounted after a failover = 0 | {summary['frames_unaccounted']} | "
            f"{_verdict(summary['frames_unaccounted'] == 0)} |",
        ]
    lines += ["", *_scaling_section(scaling), "", *_failover_section(failovers), ""]
    return "\n".join(lines)


def _scaling_section(scaling: ScalingResult | None) -> list[str]:
    layouts = "; ".join(
        f"`{name}`: " + ", ".join(f"{count} on {host}" for host, count in hosts.items())
        for name, hosts in LAYOUTS.items()
    )
    lines = [
        "## Scaling: one host against two",
        "",
        "Hosts are Linux network namespaces on one bridge (10.77.0.0/24), all on this "
        f"machine's cores; Redis runs on the broker host. Layouts (worker processes): {layouts}. "
        "Each round stages its frames (synthetic scenes, 640x480, 4 cameras) in a queue no "
        "worker serves and renames it onto the layout's queue in one command; the clock runs "
        "from there to the last result. Rounds alternate between the layouts; both pools stay "
        "warm, one thread per process, all in one scheduling session (see "
        "`ferstream/bench/scale_throughput.py`).",
        "",
    ]
    if scaling is None:
        return [*lines, "Not run."]
    lines += ["| round | layout | frames | seconds | frames/s |", "| --- | --- | --- | --- | --- |"]
    for index, each in enumerate(scaling.rounds):
        lines.append(
            f"| {index // len(LAYOUTS) + 1} | {each.layout} | {each.frames} | "
            f"{each.seconds:.2f} | {each.fps:.1f} |"
        )
    return lines


def _failover_section(failovers: list[FailoverReport]) -> list[str]:
    lines = [
        "## Sentinel failover",
        "",
        "One master, one replica, three sentinels on loopback (Debian redis-server and "
        "redis-sentinel 7.0; down-after-milliseconds 1000, failover-timeout 5000, quorum 2). "
        "A pool of 2 workers, 2 cameras at 10 frames/s for 24 s, a `ferstream results "
        "--follow` reader and the track service, all finding the master through the "
        "sentinels, each as its role's ACL user (the sentinels with a password of their own); "
        "the master SIGKILLed 8 s in. Promotion: the kill to every sentinel naming "
        "the replica. Recovery: the kill to the first result of a frame captured after it. "
        "Books read on the new master once the cameras stopped.",
        "",
        "| run | promotion s | recovery s | submits refused | lost by replication | "
        "unaccounted | workers rode through | reader lines after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for index, run in enumerate(failovers):
        refused = sum(c.refused_during_outage for c in run.cameras)
        lost = sum(c.lost_by_replication for c in run.cameras)
        lines.append(
            f"| {index + 1} | {run.promotion_seconds:.2f} | {run.recovery_seconds:.2f} | "
            f"{refused} | {lost} | {run.unaccounted} | {run.workers_rode_through} | "
            f"{run.reader_lines_after_failover} |"
        )
    lines += [
        "",
        "Submits refused: frames a producer could not enqueue while no master answered "
        "(never in the books; the producer counts them in `ferstream_submit_failures_total`). "
        "Lost by replication: frames the old master had accepted but not yet sent to its "
        "replica, counted `failed:broker_lost` by their producer (`producer/tally.py`).",
    ]
    return lines


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"
