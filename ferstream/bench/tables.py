"""The benchmark report's tables, as markdown lines, from its typed results."""

from __future__ import annotations

from ferstream.bench.results import (
    BenchReport,
    CameraAccount,
    PoolRun,
    Reasons,
    ReferenceRun,
    SaturationRun,
    merge_reasons,
)

CAMERA_ROWS = 4  # a run with more cameras gets one accounting row


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def reasons(counts: Reasons) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "0"


def _pool_cpu(run: PoolRun) -> str:
    """CPU ms per frame: workers + Redis + this process (producers, reader, sampler)."""
    parts = [run.cpu_ms_per_frame.get(name) for name in ("workers", "redis", "bench")]
    values = [float(p) for p in parts if p is not None]
    if len(values) < len(parts):
        return "-"
    return f"{sum(values):.1f} ({' + '.join(f'{v:.1f}' for v in values)})"


def _reference_cpu(run: ReferenceRun) -> str:
    if not run.frames_per_s:
        return "-"
    return f"{1000.0 * run.cpu_fraction * run.processes / run.frames_per_s:.1f}"


def throughput_table(report: BenchReport) -> list[str]:
    lines = [
        "| what | processes | frames/s | faces/s | frames/s per core | face recall | "
        "CPU ms/frame |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    pools: list[tuple[str, int, SaturationRun]] = [
        ("pool (RQ, Redis), saturation", int(w), r) for w, r in report.saturation.items()
    ]
    if report.batching_off:
        off = report.batching_off
        pools.append(("pool, micro-batching off", off.workers, off))
    for what, n, run in sorted(pools, key=lambda p: (p[1], p[0])):
        lines.append(
            f"| {what} | {n} | {run.frames_per_s} | {run.faces_per_s} | "
            f"{run.frames_per_s / n:.2f} | {run.face_recall} | {_pool_cpu(run)} |"
        )
    references = report.references
    for count, floor in sorted(references.floor.items()):
        lines.append(
            f"| compute floor (no queue) | {count} | {floor.frames_per_s} | "
            f"{floor.faces_per_s} | {floor.frames_per_s / int(count):.2f} | "
            f"{floor.face_recall} | {_reference_cpu(floor)} |"
        )
    for key, what in (
        ("notebook", "notebook loop"),
        ("fer", "the `fer` package"),
        ("fer_keras", "the `fer` package, its Keras model"),
    ):
        ran = references.ran(key)
        if ran:
            lines.append(
                f"| {what} | 1 | {ran.frames_per_s} | {ran.faces_per_s} | "
                f"{ran.frames_per_s:.2f} | {ran.face_recall} | {_reference_cpu(ran)} |"
            )
    return lines


def batching_lines(report: BenchReport) -> list[str]:
    """What micro-batching buys: the largest pool's saturation with and without it."""
    off = report.batching_off
    meta = report.meta
    if not off:
        return [
            f"Micro-batching: up to {meta.batch_max_frames} frame(s) per call; no comparison run."
        ]
    on = report.saturation[str(off.workers)]
    gain = on.frames_per_s / off.frames_per_s - 1.0
    per_call = "-" if on.frames_per_model_call is None else on.frames_per_model_call
    return [
        f"Micro-batching (up to {meta.batch_max_frames} frames per model call, max wait "
        f"{meta.batch_max_wait_s:g} s): {off.workers} workers saturate at "
        f"{on.frames_per_s} frames/s with it and {off.frames_per_s} without "
        f"({gain:+.0%}); worker CPU per frame {_cpu_of(on)} vs {_cpu_of(off)} ms; "
        f"{per_call} frames per model call at saturation."
    ]


def _cpu_of(run: PoolRun) -> str:
    value = run.cpu_ms_per_frame.get("workers")
    return "-" if value is None else f"{value:.1f}"


def fairness_table(report: BenchReport) -> list[str]:
    run = report.fairness
    if not run:
        return ["Not run."]
    lines = [
        "| camera | offered f/s | submitted | processed | served | dropped | e2e p50 | p99 |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for camera, c in run.cameras.items():
        p50, p99 = (c.latency_ms.p50, c.latency_ms.p99) if c.latency_ms else (None, None)
        lines.append(
            f"| {camera} | {c.offered_fps:g} | {c.submitted} | {c.processed} | "
            f"{c.processed / max(1, c.submitted):.0%} | {reasons(c.dropped)} | "
            f"{ms(p50)} | {ms(p99)} |"
        )
    return lines


def load_table(report: BenchReport) -> list[str]:
    lines = [
        "| load | offered f/s | sent f/s | done f/s | e2e p50 | p95 | p99 | queue p95 | "
        "detect p50 | classify p50 | other p50 | dropped | failed | recall | accuracy | "
        "Redis max MiB | MiB/min settled | worker RSS MiB | identity |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- "
        "| ---: | ---: | ---: | ---: | --- | :-: |",
    ]
    for s in report.loads:
        latency, stages, watched = s.latency_ms, s.stage_ms, s.watched
        growth = "-" if watched.redis_growth_mb_per_min is None else watched.redis_growth_mb_per_min
        lines.append(
            f"| {s.load_pct}% | {s.offered_fps} | {s.submitted_fps} | "
            f"{s.processed_fps} | {ms(latency.p50)} | {ms(latency.p95)} | "
            f"{ms(latency.p99)} | {ms(stages['queue_wait'].p95)} | "
            f"{ms(stages['detect'].p50)} | {ms(stages['classify'].p50)} | "
            f"{ms(s.overhead_ms.p50)} | {reasons(s.dropped)} | "
            f"{reasons(s.failed)} | {s.face_recall} | {s.label_accuracy} | "
            f"{watched.redis_used_mb.max} | {growth} | "
            f"{', '.join(f'{v:.0f}' for v in watched.worker_rss_mb)} | "
            f"{'exact' if s.identity_holds else 'BROKEN'} |"
        )
    return lines


def accounting_table(report: BenchReport) -> list[str]:
    """One row per run and camera; a run with more cameras than ``CAMERA_ROWS`` in one row."""
    lines = [
        "| run | camera | submitted | processed | dropped | failed | pending | results read "
        "| identity |",
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | :-: |",
    ]
    for run in report.runs():
        rows = list(run.cameras.items())
        if len(rows) > CAMERA_ROWS:
            rows = [(f"{len(rows)} cameras", _summed([c for _, c in rows]))]
        for camera, c in rows:
            lines.append(
                f"| {run.run} | {camera} | {c.submitted} | {c.processed} | "
                f"{reasons(c.dropped)} | {reasons(c.failed)} | {c.pending} | "
                f"{c.results_read} | {'exact' if c.identity_holds else 'BROKEN'} |"
            )
    return lines


def _summed(cameras: list[CameraAccount]) -> CameraAccount:
    """Several cameras' accounting as one: counts added, the identity holding for each."""
    return CameraAccount(
        submitted=sum(c.submitted for c in cameras),
        processed=sum(c.processed for c in cameras),
        dropped=merge_reasons(c.dropped for c in cameras),
        failed=merge_reasons(c.failed for c in cameras),
        pending=sum(c.pending for c in cameras),
        results_read=sum(c.results_read for c in cameras),
        identity_holds=all(c.identity_holds for c in cameras),
    )
