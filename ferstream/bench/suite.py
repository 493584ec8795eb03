"""``ferstream bench``: the real stack under controlled load, against in-process references.

Procedure, in one run on the same labelled scenes:

1. **References** (``ferstream.bench.reference``): the source notebook's loop and the
   ``fer`` package (when it loads here; ``./dev bench`` installs it) in one process each,
   then the compute floor (the worker's own pipeline, no queue) in 1 and 2 processes;
   one thread each.
2. **Stack**: an embedded Redis (or ``REDIS_URL``, on a queue and key prefix of the
   run's own) and a real ``WorkerPool`` of 1, then 2 ``python -m worker`` processes,
   one thread each.
3. **Saturation**, per worker count: a backlog of one batch and two frames per worker
   kept topped up as results arrive; its drain rate over a fixed window is the pool's
   capacity. (A one-off burst would go stale in the queue after ``max_frame_age``;
   offering more than the pool can take would measure the cost of dropping stale frames
   as well.) CPU time of the workers, Redis and this process is counted per frame.
4. **Offered load**, on the largest pool: 25-200 % of its saturation, split over two
   cameras, each load followed by a drain. The highest load runs long enough for Redis
   memory to settle.
5. **Fairness**, on the largest pool: a fast camera (30 fps, or 150 % of saturation if
   that is more) beside a 2 fps one; each camera's share of service is reported.
6. **Micro-batching off**: the largest pool again with ``batch_max_frames`` 1, saturated
   the same way: what batching buys.

After every run the counters of every camera must satisfy submitted = processed +
dropped + failed with nothing pending, and every processed frame's result must have been
read from its stream.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import redis

from common.connection import connect_as
from common.errors import FerStreamError
from common.settings import Settings
from ferstream.bench.load import IDLE_PHASE_SECONDS, LoadDriver
from ferstream.bench.reference import (
    FER_KERAS,
    FER_PACKAGE,
    FLOOR,
    NOTEBOOK,
    fer_available,
    run_reference,
)
from ferstream.bench.report import report_markdown, write_report
from ferstream.bench.results import (
    BenchMeta,
    BenchReport,
    LoadRun,
    ReferenceRun,
    References,
    SaturationRun,
    Skipped,
)
from ferstream.bench.scenes import LabelledFrame, labelled_frames
from ferstream.bench.stack import broker, running_pool
from ferstream.bench.targets import evaluate_targets
from ferstream.bench.watch import Watcher, model_calls
from worker.pool import WorkerPool

DEFAULT_LOADS = (25, 50, 75, 100, 150, 200)
FAIR_FAST_FPS = 30.0
FAIR_SLOW_FPS = 2.0
FAIR_OVERLOAD = 1.5  # the fast camera offers at least this much of the pool's saturation
DEFAULT_OUT = Path("reports/bench")
SETTLE_MARGIN_SECONDS = 2.0
FLAT_WINDOW_SECONDS = 60.0  # of settled overload: job churn makes memory swing ~2 MiB
SHARED_MACHINE_NOTE = (
    "Timings from a shared 2-core machine where other programs run: indicative only."
)


@dataclass(frozen=True)
class BenchOptions:
    workers: tuple[int, ...] = (1, 2)
    loads: tuple[int, ...] = DEFAULT_LOADS  # % of the largest pool's saturation
    duration: float = 20.0  # seconds per load
    overload_duration: float | None = None  # highest load; None: long enough to judge memory
    saturation_seconds: float = 15.0
    warmup_seconds: float = 3.0
    reference_seconds: float = 15.0
    references: bool = True
    scenes: int = 120
    cameras: int = 2
    seed: int = 0
    out: Path = DEFAULT_OUT

    @classmethod
    def preset(cls, quick: bool = False, **changes: Any) -> BenchOptions:
        """The full benchmark, or with ``quick`` a ~5 s-per-run smoke run; then ``changes``.

        A quick run's highest load lasts ``duration`` too: too short to judge Redis memory.
        """
        base = cls()
        if quick:
            base = replace(
                base,
                duration=5.0,
                saturation_seconds=5.0,
                warmup_seconds=1.5,
                reference_seconds=5.0,
                scenes=40,
            )
        options = replace(base, **{k: v for k, v in changes.items() if v is not None})
        if quick and changes.get("overload_duration") is None:
            options = replace(options, overload_duration=options.duration)  # not judged
        return options

    def load_duration(self, load: int, settle: float) -> float:
        if not self.loads or load != max(self.loads) or load <= 100:
            return self.duration
        if self.overload_duration is not None:
            return self.overload_duration
        return max(self.duration, settle + FLAT_WINDOW_SECONDS)


def run_bench(
    settings: Settings, options: BenchOptions, say: Callable[[str], None] = print
) -> BenchReport:
    """Run the benchmark, write its report under ``options.out``, print and return it."""
    if not options.workers or min(options.workers) < 1:
        raise FerStreamError(f"bench workers: expected counts >= 1, got {options.workers}")
    shutil.rmtree(options.out / "logs", ignore_errors=True)  # this run's worker output only
    (options.out / "logs").mkdir(parents=True)
    say(f"generating {options.scenes} labelled scenes from {settings.data_dir} ...")
    frames = labelled_frames(settings.data_dir, options.scenes, seed=options.seed)
    settle = settings.job_result_ttl + settings.max_frame_age + SETTLE_MARGIN_SECONDS
    meta = _meta(settings, options, settle)
    references = _references(frames, settings, options, say) if options.references else None
    saturation: dict[str, SaturationRun] = {}
    loads: list[LoadRun] = []
    fairness: LoadRun | None = None
    batching_off: SaturationRun | None = None
    with ExitStack() as stack:
        settings = broker(stack, settings, say)
        assert settings.redis_url is not None
        connection = connect_as(settings)
        watcher = Watcher(connection, settle).start()
        stack.callback(watcher.stop)
        log_dir = str(options.out / "logs")
        for workers in sorted(set(options.workers)):
            with running_pool(connection, settings, workers, log_dir, say) as pool:
                watcher.pids = lambda pool=pool: pool.pids  # type: ignore[misc]
                driver = LoadDriver(connection, pool.settings, frames, watcher, options.cameras)
                say(f"saturation, {workers} worker(s): {options.saturation_seconds:g} s ...")
                run = _saturate(driver, pool, options)
                saturation[str(workers)] = run
                say(
                    f"  {run.frames_per_s} frames/s, {run.faces_per_s} faces/s, "
                    f"{run.frames_per_model_call} frames per model call"
                )
                if workers == max(options.workers):
                    loads = _loads(driver, run.frames_per_s, options, settle, say)
                    fairness = _fairness(driver, run.frames_per_s, options, say)
        if settings.batch_max_frames > 1:
            batching_off = _batching_off(
                connection, settings, frames, watcher, options, log_dir, say
            )
    report = BenchReport(
        meta=replace(meta, load_workers=max(options.workers)),
        references=references or References(),
        saturation=saturation,
        loads=loads,
        fairness=fairness,
        batching_off=batching_off,
    )
    report = replace(report, targets=evaluate_targets(report))
    write_report(report, options.out)
    say(report_markdown(report))
    say(f"report written to {options.out}/")
    return report


def _references(
    frames: list[LabelledFrame],
    settings: Settings,
    options: BenchOptions,
    say: Callable[[str], None],
) -> References:
    seconds = options.reference_seconds
    logs = options.out / "logs"
    say(f"reference: notebook loop, 1 process, {seconds:g} s (after loading TensorFlow) ...")
    notebook = run_reference(NOTEBOOK, frames, settings, 1, seconds, logs).reported()
    say(f"  {notebook.frames_per_s} frames/s, recall {notebook.face_recall}")
    fer = _fer_reference(FER_PACKAGE, frames, settings, seconds, logs, say)
    fer_keras = _fer_reference(FER_KERAS, frames, settings, seconds, logs, say)
    floors = {}
    for processes in sorted(set(options.workers)):
        say(f"reference: compute floor, {processes} process(es), {seconds:g} s ...")
        floor = run_reference(FLOOR, frames, settings, processes, seconds, logs).reported()
        floors[str(processes)] = floor
        say(f"  {floor.frames_per_s} frames/s")
    return References(notebook=notebook, fer=fer, fer_keras=fer_keras, floor=floors)


def _fer_reference(
    name: str,
    frames: list[LabelledFrame],
    settings: Settings,
    seconds: float,
    logs: Path,
    say: Callable[[str], None],
) -> ReferenceRun | Skipped:
    """The ``fer`` package's run (``name``: its default TFLite model, or its Keras model),
    or why it was skipped.

    An optional package never fails the bench: the report says what was missing instead.
    """
    skipped = fer_available()
    if skipped is None:
        say(f"reference: {name}, 1 process, {seconds:g} s (after loading it) ...")
        try:
            fer = run_reference(name, frames, settings, 1, seconds, logs).reported()
        except FerStreamError as exc:
            skipped = f"its run failed ({str(exc).splitlines()[0]}); see {logs}/{name}-1-0.log"
        else:
            say(f"  {fer.frames_per_s} frames/s, recall {fer.face_recall}")
            return fer
    say(f"reference: {name} skipped: {skipped}")
    return Skipped(skipped)


def _loads(
    driver: LoadDriver,
    saturation: float,
    options: BenchOptions,
    settle: float,
    say: Callable[[str], None],
) -> list[LoadRun]:
    steps = []
    for load in options.loads:
        duration = options.load_duration(load, settle)
        offered = saturation * load / 100.0
        say(f"load {load}%: {offered:.1f} frames/s for {duration:g} s ...")
        step = driver.offered(f"load{load}", offered, duration)
        step = replace(step, load_pct=load, workers=max(options.workers))
        latency = step.latency_ms
        say(
            f"  done {step.processed_fps} frames/s, p50 {latency.p50} p99 {latency.p99}"
            f" ms, dropped {sum(step.dropped.values())}, "
            f"accounting {'exact' if step.identity_holds else 'BROKEN'}"
        )
        steps.append(step)
    return steps


def _fairness(
    driver: LoadDriver, saturation: float, options: BenchOptions, say: Callable[[str], None]
) -> LoadRun:
    fast = max(FAIR_FAST_FPS, FAIR_OVERLOAD * saturation)
    say(
        f"fairness: a {fast:.0f} fps camera beside a {FAIR_SLOW_FPS:g} fps one, "
        f"{options.duration:g} s ..."
    )
    run = driver.mixed("fair", [fast, FAIR_SLOW_FPS], options.duration)
    for camera, counts in run.cameras.items():
        say(f"  {camera}: {counts.processed} of {counts.submitted} processed")
    return run


def _batching_off(
    connection: redis.Redis[bytes],
    settings: Settings,
    frames: list[LabelledFrame],
    watcher: Watcher,
    options: BenchOptions,
    log_dir: str,
    say: Callable[[str], None],
) -> SaturationRun:
    """The largest pool's saturation with one frame per model call."""
    workers = max(options.workers)
    unbatched = settings.with_changes(batch_max_frames=1)
    with running_pool(connection, unbatched, workers, log_dir, say) as pool:
        watcher.pids = lambda: pool.pids
        driver = LoadDriver(connection, pool.settings, frames, watcher, options.cameras)
        say(f"saturation, {workers} worker(s), micro-batching off: ...")
        run = _saturate(driver, pool, options, f"sat{workers}w-nobatch")
        say(f"  {run.frames_per_s} frames/s, {run.faces_per_s} faces/s")
    return run


def _saturate(
    driver: LoadDriver, pool: WorkerPool, options: BenchOptions, run: str | None = None
) -> SaturationRun:
    """``driver.saturation`` for ``pool``, with the frames its workers served per model call."""
    assert pool.metrics_dir is not None
    before = model_calls(pool.metrics_dir)
    result = driver.saturation(
        pool.settings.concurrency, options.warmup_seconds, options.saturation_seconds, run
    )
    calls, frames = (a - b for a, b in zip(model_calls(pool.metrics_dir), before, strict=True))
    return replace(result, frames_per_model_call=round(frames / calls, 2) if calls else None)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


def _meta(settings: Settings, options: BenchOptions, settle: float) -> BenchMeta:
    return BenchMeta(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu_count=os.cpu_count(),
        load_avg_1m=round(os.getloadavg()[0], 2),
        python=platform.python_version(),
        versions={
            p: _version(p) for p in ("tensorflow", "keras", "opencv-python-headless", "rq", "fer")
        },
        note=SHARED_MACHINE_NOTE,
        detection=(
            f"cascade {settings.detect_cascade}, scale {settings.detect_scale_factor:g}, "
            f"neighbours {settings.detect_min_neighbors}, "
            f"min face {settings.detect_min_face_size} px, downscale {settings.detect_downscale:g}"
        ),
        queueing=(
            f"at most {settings.max_pending_per_camera} pending frames per camera "
            f"({settings.overflow_policy}), max frame age {settings.max_frame_age:g} s"
        ),
        model=settings.model_path.name,
        flip_tta=settings.flip_tta,
        scenes=options.scenes,
        cameras=options.cameras,
        workers=list(options.workers),
        duration_s=options.duration,
        overload_duration_s=options.load_duration(max(options.loads, default=0), settle),
        saturation_s=options.saturation_seconds,
        warmup_s=options.warmup_seconds,
        reference_s=options.reference_seconds,
        max_frame_age_s=settings.max_frame_age,
        job_result_ttl_s=settings.job_result_ttl,
        batch_max_frames=settings.batch_max_frames,
        batch_max_wait_s=settings.batch_max_wait,
        saturation_method=(
            "results published while only the workers and Redis ran: top-ups of the "
            f"backlog (to {IDLE_PHASE_SECONDS * 1.5:g} s of work) alternate with "
            f"{IDLE_PHASE_SECONDS:g} s idle phases that are measured, "
            f"{options.saturation_seconds:g} s of them after {options.warmup_seconds:g} s "
            "of warm-up; a phase that ran out of frames is left out; no frame goes stale"
        ),
    )
