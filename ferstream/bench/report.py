"""The benchmark's report: the targets judged, a markdown table, JSON and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from ferstream.bench.plots import plot_latency, plot_throughput
from ferstream.bench.results import BenchReport, Skipped
from ferstream.bench.tables import (
    accounting_table,
    batching_lines,
    fairness_table,
    load_table,
    throughput_table,
)
from ferstream.bench.targets import FER_HINT

NOTES = (
    "- Saturation counts only the phases in which the workers and Redis ran alone (see "
    "the method above): the references read their frames from memory, and a deployment's "
    "producers run on its cameras' machines. Under offered load, producers, the result "
    "reader, the memory sampler and Redis share the cores with the workers. CPU ms/frame "
    "splits a pool's CPU time over the frames it settled, top-ups included: workers + "
    "Redis + this benchmark process (producers, result reader, sampler).",
    "- The compute floor runs the worker's pipeline on frames in batches of "
    "`batch_max_frames`, as a worker does when frames wait.",
    "- Latency targets are judged on the largest pool; saturation is measured for each.",
)


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not measured"}[met]


def _fer_note(report: BenchReport) -> str:
    fer = report.references.fer
    if fer is None:
        return "- The `fer` package is not run (`--no-references`)."
    if isinstance(fer, Skipped):
        return f"- The `fer` package is not run ({fer.skipped}): {FER_HINT}."
    return (
        f"- The `fer` package ({report.meta.versions.get('fer', '-')}) runs as "
        "`FER(mtcnn=False).detect_emotions` with its defaults (in 25.10: Haar 1.1/5, min face "
        "50 px, on the full frame, then its small CNN through TFLite) on colour frames "
        "decoded before the clock, one process, one thread. The target is judged against "
        "that default; the same with its Keras model (`use_tflite=False`, what fer 22 and "
        "earlier always ran: the issue's ~12 frames/s) is shown beside it."
    )


def report_markdown(report: BenchReport) -> str:
    meta = report.meta
    lines = [
        "# ferstream bench",
        "",
        f"{meta.date}, {meta.cpu_count} cores, load average {meta.load_avg_1m} at "
        f"start. *{meta.note}*",
        "",
        f"Detection {meta.detection}; {meta.queueing}; model `{meta.model}`; "
        f"{meta.scenes} scenes "
        f"(640x480, 1-3 faces) cycled over {meta.cameras} cameras; OpenCV and TensorFlow "
        "on one thread per process.",
        "",
        "## Throughput",
        "",
        f"Pool saturation: {meta.saturation_method}",
        "",
        *throughput_table(report),
        "",
        f"## Latency under offered load ({meta.load_workers} worker(s))",
        "",
        f"Load = % of the {meta.load_workers}-worker saturation, split evenly over the "
        "cameras, whose frames interleave evenly; "
        f"{meta.duration_s} s per load ({meta.overload_duration_s} s at the highest). "
        "Times in ms. e2e = capture to published; other = e2e - queue wait - pipeline "
        "(enqueue, RQ bookkeeping, publish). done f/s counts results published during the "
        "load. MiB/min settled = Redis memory growth once finished jobs (kept "
        f"{meta.job_result_ttl_s} s) and waiting frames (stale after "
        f"{meta.max_frame_age_s} s) have turned over; '-' where the load was too short "
        "to tell.",
        "",
        *load_table(report),
        "",
        "## Fairness under overload",
        "",
        "A fast camera floods the pool beside a 2 fps camera, each with its own pending bound "
        f"({meta.queueing}): the fast camera's surplus is dropped at its own bound, so the "
        "slow camera's frames wait behind at most cameras x bound others.",
        "",
        *fairness_table(report),
        "",
        "## Micro-batching",
        "",
        *batching_lines(report),
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        *(f"| {t.target} | {t.measured} | {_verdict(t.met)} |" for t in report.targets),
        "",
        "## Accounting (submitted = processed + dropped + failed + pending, after a drain)",
        "",
        *accounting_table(report),
        "",
        "## Notes",
        "",
        *NOTES,
        _fer_note(report),
    ]
    return "\n".join(lines) + "\n"


def write_report(report: BenchReport, out: Path) -> list[Path]:
    """``bench.json``, ``bench.md``, ``bench-latency.png``, ``bench-throughput.png``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "bench.json", out / "bench.md"]
    paths[0].write_text(json.dumps(report.to_json(), indent=2))
    paths[1].write_text(report_markdown(report))
    paths.append(_latency_figure(report, out / "bench-latency.png"))
    paths.append(_throughput_figure(report, out / "bench-throughput.png"))
    return paths


def _latency_figure(report: BenchReport, path: Path) -> Path:
    steps = report.loads
    return plot_latency(
        path,
        loads=[float(s.load_pct or 0) for s in steps],
        p50=[s.latency_ms.p50 for s in steps],
        p95=[s.latency_ms.p95 for s in steps],
        p99=[s.latency_ms.p99 for s in steps],
        offered_fps=[s.offered_fps for s in steps],
        processed_fps=[s.processed_fps for s in steps],
        dropped_fps=[sum(s.dropped.values()) / s.duration_s for s in steps],
    )


def _throughput_figure(report: BenchReport, path: Path) -> Path:
    references = report.references
    notebook, fer = references.ran("notebook"), references.ran("fer")
    return plot_throughput(
        path,
        pool=sorted((int(n), run.frames_per_s) for n, run in report.saturation.items()),
        floor=sorted((int(n), run.frames_per_s) for n, run in references.floor.items()),
        notebook_fps=notebook.frames_per_s if notebook else None,
        fer_fps=fer.frames_per_s if fer else None,
    )
