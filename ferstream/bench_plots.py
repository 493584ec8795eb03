"""The benchmarks' figures: Haar recall against ms, latency against load, throughput."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ferstream.bench_detect import DetectScore, pareto_front
from ferstream.bench_report import FLOOR_RATIO, P99_AT_HALF_MS, P99_AT_OVERLOAD_MS


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency(report: dict[str, Any], path: Path) -> Path:
    """End-to-end p50/p95/p99 and frames/s against offered load (% of saturation)."""
    plt = _pyplot()
    figure, (latency, rate) = plt.subplots(1, 2, figsize=(11, 4.5))
    steps = report["loads"]
    loads = [s["load_pct"] for s in steps]
    for quantile, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        values = [s["latency_ms"][quantile] for s in steps]
        latency.plot(
            loads, [float("nan") if v is None else v for v in values], style, label=quantile
        )
    latency.axhline(P99_AT_HALF_MS, color="grey", ls=":", lw=1, label="p99 target at 50%")
    latency.axhline(P99_AT_OVERLOAD_MS, color="red", ls=":", lw=1, label="p99 target at 200%")
    latency.set_yscale("log")
    latency.set_xlabel("offered load, % of saturation")
    latency.set_ylabel("end-to-end latency, ms (log)")
    latency.set_title("latency of processed frames")
    latency.grid(True, which="both", alpha=0.3)
    latency.legend(fontsize=8)
    rate.plot(loads, [s["offered_fps"] for s in steps], "k--", label="offered")
    rate.plot(loads, [s["processed_fps"] for s in steps], "o-", label="processed")
    dropped = [sum(s["dropped"].values()) / s["duration_s"] for s in steps]
    rate.plot(loads, dropped, "x-", label="dropped (any reason)")
    rate.set_xlabel("offered load, % of saturation")
    rate.set_ylabel("frames/s")
    rate.set_title("frames/s")
    rate.grid(True, alpha=0.3)
    rate.legend(fontsize=8)
    if not steps:
        latency.text(0.5, 0.5, "no load runs", ha="center", transform=latency.transAxes)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_throughput(report: dict[str, Any], path: Path) -> Path:
    """Pool saturation, the compute floor, the notebook loop and `fer` against processes."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    pool = sorted((int(n), run["frames_per_s"]) for n, run in report["saturation"].items())
    floor = sorted(
        (int(n), run["frames_per_s"]) for n, run in report["references"].get("floor", {}).items()
    )
    if pool:
        axes.plot(*zip(*pool, strict=True), "o-", label="pool saturation (RQ + Redis)")
        base = pool[0][1] / pool[0][0]
        counts = [n for n, _ in pool]
        axes.plot(counts, [base * n for n in counts], "k:", lw=1, label="linear from 1 worker")
    if floor:
        axes.plot(*zip(*floor, strict=True), "s-", label="compute floor (no queue)")
        counts = [n for n, _ in floor]
        target = [FLOOR_RATIO * v for _, v in floor]
        axes.plot(counts, target, "--", color="grey", lw=1, label=f"{FLOOR_RATIO} x floor")
    notebook = report["references"].get("notebook")
    if notebook:
        axes.scatter([1], [notebook["frames_per_s"]], marker="D", c="red", label="notebook loop")
    fer = report["references"].get("fer")
    if fer and "skipped" not in fer:
        axes.scatter([1], [fer["frames_per_s"]], marker="^", c="purple", label="`fer` package")
    axes.set_xlabel("worker processes (one thread each)")
    axes.set_ylabel("frames/s")
    axes.set_xticks(sorted({n for n, _ in pool + floor} | {1}))
    axes.set_ylim(bottom=0)
    axes.set_title("throughput against workers")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_detect(scores: Sequence[DetectScore], report: dict[str, Any], path: Path) -> None:
    """Recall against ms of every Haar setting, the Pareto front, the default and the picks."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5.5))
    for downscale in sorted({s.config.downscale for s in scores}, reverse=True):
        group = [s for s in scores if s.config.downscale == downscale]
        axes.scatter(
            [s.ms for s in group],
            [s.recall for s in group],
            s=14,
            alpha=0.7,
            label=f"downscale {downscale:g}",
        )
    front = pareto_front(scores)
    axes.plot([s.ms for s in front], [s.recall for s in front], "k-", lw=1, label="Pareto front")
    axes.scatter(
        [s.ms for s in front], [s.recall for s in front], s=40, facecolors="none", edgecolors="k"
    )
    pick = report["recommended"]
    axes.scatter(
        [pick["ms_mean"]],
        [pick["recall"]],
        marker="*",
        s=220,
        c="red",
        zorder=5,
        label="recommended",
    )
    fast = report["best_within_budget"]
    axes.scatter(
        [fast["ms_mean"]],
        [fast["recall"]],
        marker="P",
        s=120,
        c="orange",
        zorder=5,
        label=f"best within {report['budget_ms']:g} ms",
    )
    current = report["current_default"]
    if "recall" in current:
        axes.scatter(
            [current["ms_mean"]],
            [current["recall"]],
            marker="X",
            s=120,
            c="grey",
            zorder=5,
            label="current default",
        )
    axes.axvline(report["budget_ms"], color="grey", ls=":", lw=1)
    axes.set_xscale("log")
    axes.set_xlabel("detection ms per 640x480 frame (one thread, log scale)")
    axes.set_ylabel(f"face recall (IoU >= {report['match_iou']})")
    axes.set_title(f"Haar settings on {report['scenes']} synthetic scenes")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
