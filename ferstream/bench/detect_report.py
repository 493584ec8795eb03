"""``ferstream bench-detect``: the grid measured (``ferstream.bench.detect``), its settings
picked, and the typed report written as JSON, markdown and a figure."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from common.settings import Settings
from ferstream.bench.detect import (
    DEFAULT_BUDGET_MS,
    HAAR_WINDOW,
    NOTEBOOK_DETECTION,
    DetectConfig,
    DetectGrid,
    DetectRow,
    DetectScore,
    best_within_budget,
    measure_grid,
    pareto_front,
    recommend,
)
from ferstream.bench.plots import Marked, plot_detect
from ferstream.bench.scenes import labelled_frames
from producer.scenes import FACE_SIDE_RANGE

MATCH_IOU = 0.3
FRAME_SIZE = (640, 480)
NOTE = "timings from a shared machine: compare settings with each other, not with another run"


@dataclass(frozen=True)
class DetectBenchOptions:
    scenes: int = 150
    seed: int = 0
    grid: DetectGrid = field(default_factory=DetectGrid)
    budget_ms: float = DEFAULT_BUDGET_MS
    out: Path = Path("reports/bench-detect")


@dataclass(frozen=True)
class DetectReport:
    """What ``bench-detect`` found: every setting's row, and the settings it picked."""

    scenes: int
    seed: int
    true_faces: int
    budget_ms: float
    current_default: DetectRow | DetectConfig  # only its configuration if not in the grid
    notebook: DetectRow | None
    recommended: DetectRow
    best_within_budget: DetectRow
    results: list[DetectRow]
    frame_size: tuple[int, int] = FRAME_SIZE
    match_iou: float = MATCH_IOU
    opencv_threads: int = 1
    note: str = NOTE

    def to_json(self) -> dict[str, Any]:
        rows = ("notebook", "recommended", "best_within_budget")
        data: dict[str, Any] = {
            "scenes": self.scenes,
            "seed": self.seed,
            "frame_size": list(self.frame_size),
            "true_faces": self.true_faces,
            "match_iou": self.match_iou,
            "opencv_threads": self.opencv_threads,
            "budget_ms": self.budget_ms,
            "current_default": _json(self.current_default),
        }
        data |= {name: _json(getattr(self, name)) for name in rows}
        return data | {"results": [row.to_json() for row in self.results], "note": self.note}


def _json(value: DetectRow | DetectConfig | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return value.to_json() if isinstance(value, DetectRow) else asdict(value)


def run_detect_bench(
    settings: Settings,
    options: DetectBenchOptions,
    say: Callable[[str], None] = print,
) -> DetectReport:
    """Measure the grid, write ``bench-detect.json``, ``.md`` and ``.png``; return the report."""
    frames = labelled_frames(settings.data_dir, options.scenes, seed=options.seed)
    configs = options.grid.configs()
    say(f"{len(configs)} settings x {len(frames)} scenes, OpenCV on one thread ...")

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            say(f"  {done}/{total} scenes")

    scores = measure_grid(frames, configs, settings, progress)
    report = build_report(scores, settings, options)
    write_report(report, scores, options.out)
    say(report_markdown(report))
    return report


def _as_config(settings: Settings) -> DetectConfig:
    return DetectConfig(
        settings.detect_cascade,
        settings.detect_scale_factor,
        settings.detect_min_neighbors,
        settings.detect_min_face_size,
        settings.detect_downscale,
    )


def build_report(
    scores: Sequence[DetectScore], settings: Settings, options: DetectBenchOptions
) -> DetectReport:
    current = next((s for s in scores if s.config == _as_config(settings)), None)
    notebook = next((s for s in scores if s.config == NOTEBOOK_DETECTION), None)
    pick, why = recommend(scores, notebook, options.budget_ms)
    fast, fast_why = best_within_budget(scores, options.budget_ms)
    front = {id(s) for s in pareto_front(scores)}
    return DetectReport(
        scenes=options.scenes,
        seed=options.seed,
        true_faces=scores[0].true_faces if scores else 0,
        budget_ms=options.budget_ms,
        current_default=current.row() if current else _as_config(settings),
        notebook=notebook.row() if notebook else None,
        recommended=replace(pick.row(), reason=why),
        best_within_budget=replace(fast.row(), reason=fast_why),
        results=[
            replace(s.row(), pareto=id(s) in front) for s in sorted(scores, key=lambda s: s.ms)
        ],
    )


def write_report(report: DetectReport, scores: Sequence[DetectScore], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-detect.json").write_text(json.dumps(report.to_json(), indent=2))
    (out / "bench-detect.md").write_text(report_markdown(report))
    by_downscale: dict[float, list[tuple[float, float]]] = {}
    for score in scores:
        by_downscale.setdefault(score.config.downscale, []).append((score.ms, score.recall))
    marked = {
        "recommended": Marked("recommended", report.recommended.ms_mean, report.recommended.recall),
        "best": Marked(
            f"best within {report.budget_ms:g} ms",
            report.best_within_budget.ms_mean,
            report.best_within_budget.recall,
        ),
    }
    if isinstance(report.current_default, DetectRow):
        current = report.current_default
        marked["default"] = Marked("current default", current.ms_mean, current.recall)
    plot_detect(
        out / "bench-detect.png",
        by_downscale=by_downscale,
        front=[(s.ms, s.recall) for s in pareto_front(scores)],
        marked=marked,
        budget_ms=report.budget_ms,
        match_iou=report.match_iou,
        scenes=report.scenes,
    )


def _label(row: DetectRow) -> str:
    return (
        f"{row.cascade_name}, sf {row.scale_factor:g}, mn {row.min_neighbors}, "
        f"min {row.min_face_size}, ds {row.downscale:g}"
    )


def _summary(row: DetectRow) -> str:
    return (
        f"{_label(row)}: recall {row.recall:.3f}, {row.ms_mean:.1f} ms, "
        f"{row.false_positives_per_frame:.3f} false positives per frame"
    )


def report_markdown(report: DetectReport) -> str:
    pick, fast = report.recommended, report.best_within_budget
    current = report.current_default
    lines = [
        "# Haar detection: recall against time",
        "",
        f"{report.scenes} synthetic 640x480 scenes ({report.true_faces} faces, FER2013 test "
        f"split, seed {report.seed}), JPEG-decoded as a worker does; a face is found at "
        f"IoU >= {report.match_iou}. OpenCV on one thread, through "
        "`worker.detector.HaarFaceDetector`. ms = mean wall-clock per frame; cpu ms = the "
        "thread's CPU time (close to ms on an idle machine). "
        f"*{report.note}.*",
        "",
        f"**Recommended**: {_summary(pick)}. Why: {pick.reason}.",
        "",
        f"Best recall within {report.budget_ms:g} ms: {_summary(fast)}. Why: {fast.reason}.",
        "",
    ]
    if isinstance(current, DetectRow):
        lines += [f"Current default: {_summary(current)}.", ""]
    if report.notebook:
        lines += [f"Source notebook's detection: {_summary(report.notebook)}.", ""]
    lines += [
        "`smallest face` is what a setting can really find, in full-frame pixels: the "
        f"cascade's window is {HAAR_WINDOW} px, so a minimum size below "
        f"{HAAR_WINDOW} / downscale changes nothing. The scenes' faces are "
        f"{FACE_SIDE_RANGE[0]}-{FACE_SIDE_RANGE[1]} px wide (a webcam at 1-2 m): a camera "
        "showing smaller faces needs a smaller minimum. * marks the Pareto front.",
        "",
        "| cascade | scale | neigh. | min size | downscale | smallest face | ms | ms p95 "
        "| cpu ms | recall | FP/frame | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :-: |",
    ]
    lines += [
        f"| {r.cascade_name} | {r.scale_factor:g} | {r.min_neighbors} | "
        f"{r.min_face_size} | "
        f"{r.downscale:g} | {r.smallest_face_px} | {r.ms_mean:.1f} | {r.ms_p95:.1f} "
        f"| {r.cpu_ms_mean:.1f} | {r.recall:.3f} | {r.false_positives_per_frame:.3f} "
        f"| {'*' if r.pareto else ''} |"
        for r in report.results
    ]
    return "\n".join(lines) + "\n"
