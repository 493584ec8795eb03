"""The real-time issue's targets (2 workers on 2 cores), and a report judged against them."""

from __future__ import annotations

from ferstream.bench.results import (
    BenchReport,
    LoadRun,
    ReferenceRun,
    SaturationRun,
    Skipped,
    Target,
)
from ferstream.bench.tables import ms, reasons

FLOOR_RATIO = 0.9
NOTEBOOK_RATIO_PER_CORE = 10.0
FER_RATIO_PER_CORE = 3.0
SCALING_RATIO = 1.8
P99_AT_HALF_MS = 100.0
P99_AT_OVERLOAD_MS = 250.0
HALF_LOAD = 50
OVERLOAD = 200
FAIR_SERVED = 0.9  # of the slow camera's frames, beside a camera that floods the pool
FER_HINT = "`./dev bench` installs it (without its dependencies) and runs the bench"


def evaluate_targets(report: BenchReport) -> list[Target]:
    """Each target of the issue: what it asks, what was measured, met / not met / not measured."""
    saturation = report.saturation
    references = report.references
    loads = {step.load_pct: step for step in report.loads}
    workers = max((int(n) for n in saturation), default=0)
    pool = saturation.get(str(workers))
    recall = pool_recall(report)
    rows = [
        _floor_target(pool, references.floor.get(str(workers)), workers),
        _notebook_target(pool, references.notebook, workers, recall),
        _fer_target(pool, workers, references.fer, references.fer_keras, recall),
        _scaling_target(saturation),
        _p99_target(loads.get(HALF_LOAD), HALF_LOAD, P99_AT_HALF_MS),
        _p99_target(loads.get(OVERLOAD), OVERLOAD, P99_AT_OVERLOAD_MS),
        *_overload_targets(loads.get(OVERLOAD)),
        _fairness_target(report.fairness),
        _accounting_target(report),
    ]
    return rows


def pool_recall(report: BenchReport) -> float | None:
    """The pool's face recall over every frame it processed in the load runs."""
    steps = [s for s in report.loads if s.face_recall is not None]
    if not steps:
        return None
    weights = [s.processed for s in steps]
    total = sum(float(s.face_recall or 0.0) * w for s, w in zip(steps, weights, strict=True))
    return round(total / max(1, sum(weights)), 3)


def _floor_target(pool: SaturationRun | None, floor: ReferenceRun | None, workers: int) -> Target:
    if not (pool and floor):
        return Target(f"pool >= {FLOOR_RATIO} x compute floor", "no floor run", None)
    ratio = pool.frames_per_s / floor.frames_per_s
    return Target(
        f"pool >= {FLOOR_RATIO} x compute floor ({workers} cores)",
        f"{pool.frames_per_s} / {floor.frames_per_s} frames/s = {ratio:.2f} x",
        ratio >= FLOOR_RATIO,
    )


def _notebook_target(
    pool: SaturationRun | None,
    notebook: ReferenceRun | None,
    workers: int,
    recall: float | None,
) -> Target:
    if not (pool and notebook):
        return Target(">= 10 x notebook loop per core", "no notebook run", None)
    per_core = pool.frames_per_s / workers
    ratio = per_core / notebook.frames_per_s
    recall_ok = recall is not None and recall >= (notebook.face_recall or 0.0)
    return Target(
        f">= {NOTEBOOK_RATIO_PER_CORE:g} x notebook loop per core, equal or better recall",
        f"{per_core:.2f} / {notebook.frames_per_s} frames/s per core = {ratio:.2f} x; "
        f"recall {recall} vs {notebook.face_recall}",
        ratio >= NOTEBOOK_RATIO_PER_CORE and recall_ok,
    )


def _fer_target(
    pool: SaturationRun | None,
    workers: int,
    fer: ReferenceRun | Skipped | None,
    keras: ReferenceRun | Skipped | None,
    recall: float | None,
) -> Target:
    """The pool per core against the ``fer`` package's one process, at equal or better recall."""
    target = f">= {FER_RATIO_PER_CORE:g} x the `fer` package per core, equal or better recall"
    if fer is None:
        return Target(target, "not run: references skipped (--no-references)", None)
    if isinstance(fer, Skipped):
        return Target(target, f"not run: {fer.skipped}; {FER_HINT}", None)
    if not pool:
        return Target(target, "no pool run", None)
    per_core = pool.frames_per_s / workers
    ratio = per_core / fer.frames_per_s
    recall_ok = recall is not None and recall >= (fer.face_recall or 0.0)
    beside = ""
    if isinstance(keras, ReferenceRun):
        beside = (
            f" (its Keras model, `use_tflite=False`: {keras.frames_per_s} frames/s, "
            f"{per_core / keras.frames_per_s:.2f} x)"
        )
    return Target(
        target,
        f"{per_core:.2f} / {fer.frames_per_s} frames/s per core = {ratio:.2f} x; "
        f"recall {recall} vs {fer.face_recall}{beside}",
        ratio >= FER_RATIO_PER_CORE and recall_ok,
    )


def _scaling_target(saturation: dict[str, SaturationRun]) -> Target:
    if "1" not in saturation or "2" not in saturation:
        return Target("2 workers >= 1.8 x 1 worker", "1 and 2 workers not both run", None)
    one, two = saturation["1"].frames_per_s, saturation["2"].frames_per_s
    return Target(
        f"2 workers >= {SCALING_RATIO} x 1 worker",
        f"{two} / {one} frames/s = {two / one:.2f} x",
        two / one >= SCALING_RATIO,
    )


def _p99_target(step: LoadRun | None, load: int, limit: float) -> Target:
    target = f"p99 end-to-end <= {limit:g} ms at {load}%"
    if step is None or step.latency_ms.p99 is None:
        return Target(target, "not run", None)
    p99 = step.latency_ms.p99
    return Target(target, f"p99 {p99} ms", p99 <= limit)


def _overload_targets(step: LoadRun | None) -> list[Target]:
    if step is None:
        return [Target("at 200%: Redis memory flat, every camera served", "not run", None)]
    watched = step.watched
    peaks = watched.redis_settled_peaks_mb
    memory = f"used_memory {watched.redis_used_mb.start} -> max {watched.redis_used_mb.max} MiB" + (
        "; run too short to judge"
        if not peaks
        else f"; once settled, peak {peaks[0]} MiB in the first half, {peaks[1]} MiB in "
        f"the second (bounded: within 5 %, at least 1 MiB; fitted slope "
        f"{watched.redis_growth_mb_per_min} MiB/min)"
    )
    served = {camera: account.processed for camera, account in step.cameras.items()}
    return [
        Target("at 200%: Redis memory flat", memory, watched.redis_flat),
        Target(
            "at 200%: every camera served",
            ", ".join(f"{c} {n} processed" for c, n in served.items()),
            all(n > 0 for n in served.values()),
        ),
    ]


def _fairness_target(run: LoadRun | None) -> Target:
    target = f"fairness: a 2 fps camera beside a flooding one gets >= {FAIR_SERVED:.0%} served"
    if run is None:
        return Target(target, "not run", None)
    fast, slow = sorted(run.cameras.values(), key=lambda c: -(c.offered_fps or 0.0))
    share = slow.processed / max(1, slow.submitted)
    p99 = slow.latency_ms.p99 if slow.latency_ms else None
    return Target(
        target,
        f"{slow.offered_fps:g} fps camera: {slow.processed} of {slow.submitted} "
        f"processed ({share:.0%}, p99 {ms(p99)} ms); "
        f"{fast.offered_fps:g} fps camera: {fast.processed} of {fast.submitted} "
        f"({reasons(fast.dropped)} dropped)",
        share >= FAIR_SERVED,
    )


def _accounting_target(report: BenchReport) -> Target:
    runs = report.runs()
    broken = [run.run for run in runs if not run.identity_holds]
    return Target(
        "accounting identity exact, every run",
        f"{len(runs) - len(broken)} of {len(runs)} runs exact"
        + (f"; broken: {', '.join(broken)}" if broken else ""),
        not broken if runs else None,
    )
