"""The benchmarks' figures, drawn from plain data series: Haar recall against ms, latency
against load, throughput against processes, and a soak's series against time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferstream.bench.targets import FLOOR_RATIO, P99_AT_HALF_MS, P99_AT_OVERLOAD_MS

Points = Sequence[tuple[float, float]]  # (x, y)


@dataclass(frozen=True)
class Marked:
    """One highlighted point of a figure, with its legend label."""

    label: str
    x: float
    y: float


@dataclass(frozen=True)
class Panel:
    """One panel of a timeline: named series of (minutes, value), fitted lines (each from
    one (minutes, value) to another), and where judging starts (before it: shaded)."""

    title: str
    ylabel: str
    series: Mapping[str, Points]
    fits: Sequence[tuple[tuple[float, float], tuple[float, float]]] = ()
    judged_from: float | None = None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _values(series: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in series]


def plot_latency(
    path: Path,
    *,
    loads: Sequence[float],
    p50: Sequence[float | None],
    p95: Sequence[float | None],
    p99: Sequence[float | None],
    offered_fps: Sequence[float],
    processed_fps: Sequence[float],
    dropped_fps: Sequence[float],
) -> Path:
    """End-to-end p50/p95/p99 (ms) and frames/s against offered load (% of saturation)."""
    plt = _pyplot()
    figure, (latency, rate) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, values, style in (("p50", p50, "o-"), ("p95", p95, "s-"), ("p99", p99, "^-")):
        latency.plot(loads, _values(values), style, label=name)
    latency.axhline(P99_AT_HALF_MS, color="grey", ls=":", lw=1, label="p99 target at 50%")
    latency.axhline(P99_AT_OVERLOAD_MS, color="red", ls=":", lw=1, label="p99 target at 200%")
    latency.set_yscale("log")
    latency.set_xlabel("offered load, % of saturation")
    latency.set_ylabel("end-to-end latency, ms (log)")
    latency.set_title("latency of processed frames")
    latency.grid(True, which="both", alpha=0.3)
    latency.legend(fontsize=8)
    rate.plot(loads, offered_fps, "k--", label="offered")
    rate.plot(loads, processed_fps, "o-", label="processed")
    rate.plot(loads, dropped_fps, "x-", label="dropped (any reason)")
    rate.set_xlabel("offered load, % of saturation")
    rate.set_ylabel("frames/s")
    rate.set_title("frames/s")
    rate.grid(True, alpha=0.3)
    rate.legend(fontsize=8)
    if not loads:
        latency.text(0.5, 0.5, "no load runs", ha="center", transform=latency.transAxes)
    return _save(plt, figure, path)


def plot_throughput(
    path: Path,
    *,
    pool: Points,
    floor: Points,
    notebook_fps: float | None,
    fer_fps: float | None,
) -> Path:
    """Pool saturation and the compute floor against processes ((processes, frames/s)
    each), the notebook loop and `fer` at one."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
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
    if notebook_fps is not None:
        axes.scatter([1], [notebook_fps], marker="D", c="red", label="notebook loop")
    if fer_fps is not None:
        axes.scatter([1], [fer_fps], marker="^", c="purple", label="`fer` package")
    axes.set_xlabel("worker processes (one thread each)")
    axes.set_ylabel("frames/s")
    axes.set_xticks(sorted({int(n) for n, _ in [*pool, *floor]} | {1}))
    axes.set_ylim(bottom=0)
    axes.set_title("throughput against workers")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _save(plt, figure, path)


MARKERS = {  # marker, size, colour
    "recommended": ("*", 220, "red"),
    "best": ("P", 120, "orange"),
    "default": ("X", 120, "grey"),
}


def plot_detect(
    path: Path,
    *,
    by_downscale: Mapping[float, Points],
    front: Points,
    marked: Mapping[str, Marked],
    budget_ms: float,
    match_iou: float,
    scenes: int,
) -> Path:
    """Recall against ms per frame of every Haar setting (grouped by downscale), the Pareto
    front, and the marked settings (``recommended``, ``best`` within budget, ``default``)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5.5))
    for downscale in sorted(by_downscale, reverse=True):
        points = by_downscale[downscale]
        axes.scatter(
            [ms for ms, _ in points],
            [recall for _, recall in points],
            s=14,
            alpha=0.7,
            label=f"downscale {downscale:g}",
        )
    xs, ys = [ms for ms, _ in front], [recall for _, recall in front]
    axes.plot(xs, ys, "k-", lw=1, label="Pareto front")
    axes.scatter(xs, ys, s=40, facecolors="none", edgecolors="k")
    for kind, point in marked.items():
        marker, size, colour = MARKERS[kind]
        axes.scatter(
            [point.x], [point.y], marker=marker, s=size, c=colour, zorder=5, label=point.label
        )
    axes.axvline(budget_ms, color="grey", ls=":", lw=1)
    axes.set_xscale("log")
    axes.set_xlabel("detection ms per 640x480 frame (one thread, log scale)")
    axes.set_ylabel(f"face recall (IoU >= {match_iou})")
    axes.set_title(f"Haar settings on {scenes} synthetic scenes")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    return _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_timeline(path: Path, panels: Sequence[Panel], title: str) -> Path:
    """Up to four panels of series against minutes, two by two, with their fitted lines."""
    plt = _pyplot()
    figure, grid = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    axes_list = list(grid.flat)
    for axes, panel in zip(axes_list, panels, strict=False):
        for label, points in panel.series.items():
            if points:
                axes.plot(*zip(*points, strict=True), ".-", ms=3, lw=1, label=label)
        for (x0, y0), (x1, y1) in panel.fits:
            axes.plot([x0, x1], [y0, y1], "k--", lw=1)
        last = max((x for points in panel.series.values() for x, _ in points), default=0.0)
        if panel.judged_from:  # clipped: a later start than the data's would widen every panel
            axes.axvspan(0, min(panel.judged_from, last), color="grey", alpha=0.15, lw=0)
        axes.set_title(panel.title)
        axes.set_ylabel(panel.ylabel)
        axes.grid(True, alpha=0.3)
        if 0 < len(panel.series) <= 6:
            axes.legend(fontsize=7)
    for axes in axes_list[len(panels) :]:
        axes.set_visible(False)
    for axes in axes_list[2:]:
        axes.set_xlabel("minutes since the load started (shaded: not judged; dashed: fit)")
    figure.suptitle(title)
    return _save(plt, figure, path)
