"""``ferstream soak``: the real stack at a steady share of its saturation for minutes or
hours, with bad frames mixed in: does anything grow, slow down or go uncounted?

1. **Stack** (``ferstream.bench.stack``): an embedded Redis (or ``REDIS_URL``, on a queue
   and key prefix of the run's own) and a real ``WorkerPool`` of ``workers`` processes,
   one thread each.
2. **Load**: ``fps`` frames/s in all, or ``load_fraction`` (80 %) of the pool's
   saturation, measured first as ``ferstream bench`` does (``LoadDriver.saturation``);
   split evenly over the cameras and paced by the bench's producers
   (``LoadDriver.produce``). Every ``bad_every``-th frame of each camera is a bad frame
   (``ferstream.soak.badframes``).
3. **Samples**, every ``sample_seconds``: each worker's RSS, Redis ``used_memory``, open
   file descriptors (workers, this process, a local Redis), the latency of the results
   published in the window, frames processed, dropped and failed in it, and errors
   beyond the injected bad frames (``ferstream.soak.probe``); a progress line each.
4. **End**: the load stops, the queue drains, every camera's counters must satisfy
   submitted = processed + dropped + failed with nothing pending and every result read;
   slopes and p99 are judged (``ferstream.soak.trend``) and the report is written.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import redis

from common.accounting import UNKNOWN_CAMERA, read_counts
from common.connection import connect_as
from common.errors import FerStreamError
from common.settings import Settings
from ferstream.bench.load import LoadDriver, ResultCollector, camera_account, percentiles
from ferstream.bench.results import CameraAccount, SaturationRun
from ferstream.bench.scenes import labelled_frames
from ferstream.bench.stack import broker, running_pool
from ferstream.bench.watch import Watcher
from ferstream.soak.badframes import DEFAULT_BAD_EVERY, BadFrameMixer
from ferstream.soak.probe import LatencyLog, Probe, Prober, failed_beyond, window
from ferstream.soak.report import progress_line, report_markdown, write_report
from ferstream.soak.results import Errors, Injection, SoakMeta, SoakReport, SoakSample
from ferstream.soak.targets import evaluate_targets
from ferstream.soak.trend import (
    FDS_FLOOR,
    MEMORY_FLOOR_MIB,
    p99_steadiness,
    sample_trend,
    series_trends,
    warmup_seconds,
)
from worker.pool import WorkerPool

DEFAULT_OUT = Path("reports/soak")
LOAD_FRACTION = 0.8
SETTLE_MARGIN_SECONDS = 2.0  # as the bench's: after the last job that can still be kept
CAMERA_RUN = "soak"
SHARED_MACHINE_NOTE = (
    "Timings from a shared 2-core machine where other programs run: indicative only."
)


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 30.0
    sample_seconds: float = 10.0
    fps: float | None = None  # offered in all; None: load_fraction of the measured saturation
    load_fraction: float = LOAD_FRACTION
    workers: int = 2
    cameras: int = 2
    bad_every: int = DEFAULT_BAD_EVERY
    saturation_seconds: float = 10.0
    saturation_warmup_seconds: float = 3.0
    scenes: int = 60
    seed: int = 0
    out: Path = DEFAULT_OUT

    def __post_init__(self) -> None:
        checks = {
            "minutes": (self.minutes > 0, "> 0"),
            "sample_seconds": (self.sample_seconds > 0, "> 0"),
            "fps": (self.fps is None or self.fps > 0, "> 0"),
            "load_fraction": (self.load_fraction > 0, "> 0"),
            "workers": (self.workers >= 1, ">= 1"),
            "cameras": (self.cameras >= 1, ">= 1"),
            "saturation_seconds": (self.saturation_seconds > 0, "> 0"),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                raise FerStreamError(f"soak {name}: expected {expected}, got {getattr(self, name)}")

    @property
    def duration(self) -> float:
        return self.minutes * 60.0


@dataclass(frozen=True)
class Timeline:
    """What the soak's load left: its probes and latencies, and the counts after the drain."""

    probes: list[Probe]
    latencies: LatencyLog
    load_start: float
    load_end: float
    interrupted: bool
    drained: bool
    accounts: dict[str, CameraAccount]

    def windows(self) -> list[SoakSample]:
        """One sample per pair of probes; the last one is the drain."""
        pairs = list(zip(self.probes, self.probes[1:], strict=False))
        return [
            window(before, after, self.latencies, self.load_start, i == len(pairs) - 1)
            for i, (before, after) in enumerate(pairs)
        ]


def run_soak(
    settings: Settings, options: SoakOptions, say: Callable[[str], None] = print
) -> SoakReport:
    """Run the soak, write its report under ``options.out``, print and return it."""
    logs = options.out / "logs"
    shutil.rmtree(logs, ignore_errors=True)  # this run's worker output only
    logs.mkdir(parents=True)
    say(f"generating {options.scenes} labelled scenes from {settings.data_dir} ...")
    frames = labelled_frames(settings.data_dir, options.scenes, seed=options.seed)
    date, load_avg = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), os.getloadavg()[0]
    with ExitStack() as stack:
        settings = broker(stack, settings, say)
        assert settings.redis_url is not None
        connection = connect_as(settings)
        pool = stack.enter_context(
            running_pool(connection, settings, options.workers, str(logs), say)
        )
        watcher = Watcher(connection, settle=0.0)
        watcher.pids = lambda: pool.pids
        driver = LoadDriver(connection, pool.settings, frames, watcher, options.cameras)
        saturation = None if options.fps else _saturation(driver, watcher, options, say)
        fps = options.fps or round(options.load_fraction * _rate(saturation), 1)
        timeline = _load(connection, pool, driver, fps, options, say)
        soaked = pool.settings
    meta = _meta(soaked, options, timeline, fps, date, load_avg, str(logs))
    report = build_report(meta, saturation, timeline)
    write_report(report, options.out)
    say(report_markdown(report))
    say(f"report written to {options.out}/")
    return report


def _rate(saturation: SaturationRun | None) -> float:
    if saturation is None or saturation.frames_per_s <= 0:
        raise FerStreamError(f"soak: expected a saturation above 0 frames/s, got {saturation}")
    return saturation.frames_per_s


def _saturation(
    driver: LoadDriver, watcher: Watcher, options: SoakOptions, say: Callable[[str], None]
) -> SaturationRun:
    say(f"saturation, {options.workers} worker(s): {options.saturation_seconds:g} s ...")
    watcher.start()
    try:
        run = driver.saturation(
            options.workers, options.saturation_warmup_seconds, options.saturation_seconds
        )
    finally:
        watcher.stop()
    say(f"  {run.frames_per_s} frames/s; the soak offers {options.load_fraction:.0%} of it")
    return run


def _load(
    connection: redis.Redis[bytes],
    pool: WorkerPool,
    driver: LoadDriver,
    fps: float,
    options: SoakOptions,
    say: Callable[[str], None],
) -> Timeline:
    """Offer ``fps`` with bad frames mixed in, sampling as it goes; then drain and count."""
    prefix = driver.settings.key_prefix
    cameras = [f"{CAMERA_RUN}-c{i}" for i in range(options.cameras)]
    counted = [*cameras, UNKNOWN_CAMERA]
    mixer = BadFrameMixer(options.bad_every, options.seed)
    latencies = LatencyLog()
    collector = ResultCollector(connection, prefix, cameras, keep=latencies.add)
    prober = Prober(connection, prefix, counted, lambda: pool.pids, lambda: pool.restarts, mixer)
    probes = [prober.probe()]
    say(
        f"soak: {fps:g} frames/s over {len(cameras)} cameras for {options.minutes:g} min, "
        f"one bad frame in {options.bad_every}, a sample every {options.sample_seconds:g} s"
    )
    stop = threading.Event()
    rates = [fps / len(cameras)] * len(cameras)
    threads = driver.produce(cameras, rates, options.duration, mixer, stop)
    interrupted = _sample(prober, probes, latencies, options, say)
    stop.set()
    for thread in threads:
        thread.join()
    load_end = time.time()
    say("draining ...")
    drained = driver.drain(counted)
    driver.await_results(collector, cameras)
    probes.append(prober.probe())
    say(progress_line(window(probes[-2], probes[-1], latencies, probes[0].at, True)))
    collector.stop()
    queued = int(connection.llen(driver.queue_key))
    accounts = {
        camera: camera_account(
            read_counts(connection, prefix, camera), latencies.read(camera), queued
        )
        for camera in counted
    }
    return Timeline(probes, latencies, probes[0].at, load_end, interrupted, drained, accounts)


def _sample(
    prober: Prober,
    probes: list[Probe],
    latencies: LatencyLog,
    options: SoakOptions,
    say: Callable[[str], None],
) -> bool:
    """Probe every ``sample_seconds`` until the load ends; whether it was interrupted."""
    start = probes[0].at
    end, tick = start + options.duration, start
    try:
        while tick < end:
            tick = min(tick + options.sample_seconds, end)
            time.sleep(max(0.0, tick - time.time()))
            probes.append(prober.probe())
            say(progress_line(window(probes[-2], probes[-1], latencies, start, False)))
    except KeyboardInterrupt:
        say("interrupted: stopping the cameras, then draining ...")
        return True
    return False


def build_report(
    meta: SoakMeta, saturation: SaturationRun | None, timeline: Timeline
) -> SoakReport:
    """Judge the timeline: trends after the warm-up, p99, bad frames, errors, accounting."""
    samples = timeline.windows()
    final = timeline.probes[-1]
    injected = final.injected
    failed = {reason: final.failed.get(reason, 0) for reason in injected}
    report = SoakReport(
        meta=meta,
        saturation=saturation,
        samples=samples,
        latency_ms=percentiles(timeline.latencies.between(0.0, math.inf)),
        worker_rss=series_trends(
            samples, meta.warmup_s, lambda s: s.worker_rss_mb, MEMORY_FLOOR_MIB, "MiB"
        ),
        redis_used=sample_trend(
            samples, meta.redis_from_s, lambda s: s.redis_used_mb, MEMORY_FLOOR_MIB, "MiB"
        ),
        fds=series_trends(
            samples,
            meta.warmup_s,
            lambda s: {k: float(v) for k, v in s.fds.items()},
            FDS_FLOOR,
            "fds",
        ),
        p99=p99_steadiness(
            samples, timeline.latencies, timeline.load_start, meta.warmup_s, meta.ran_s
        ),
        injection=Injection(
            meta.bad_every,
            injected,
            failed,
            all(failed[r] == n for r, n in injected.items()),
            final.dropped.get("queue_full", 0),
        ),
        errors=Errors(failed_beyond(final.failed, injected), final.submit_errors, final.restarts),
        cameras=timeline.accounts,
        drained=timeline.drained,
        identity_holds=timeline.drained
        and all(account.identity_holds for account in timeline.accounts.values()),
    )
    return replace(report, targets=evaluate_targets(report))


def _meta(
    settings: Settings,
    options: SoakOptions,
    timeline: Timeline,
    fps: float,
    date: str,
    load_avg: float,
    logs: str,
) -> SoakMeta:
    ran = timeline.load_end - timeline.load_start
    warmup = warmup_seconds(ran)
    kept = max(settings.job_result_ttl, settings.job_failure_ttl) + settings.max_frame_age
    filled = settings.results_stream_maxlen / (fps / options.cameras)  # the result streams
    return SoakMeta(
        date=date,
        cpu_count=os.cpu_count(),
        load_avg_1m=round(load_avg, 2),
        python=platform.python_version(),
        note=SHARED_MACHINE_NOTE,
        workers=options.workers,
        cameras=options.cameras,
        scenes=options.scenes,
        planned_s=options.duration,
        ran_s=round(ran, 2),
        interrupted=timeline.interrupted,
        sample_s=options.sample_seconds,
        offered_fps=fps,
        fps_source="given" if options.fps else f"{options.load_fraction:.0%} of saturation",
        bad_every=options.bad_every,
        warmup_s=round(warmup, 2),
        redis_from_s=round(max(warmup, max(kept, filled) + SETTLE_MARGIN_SECONDS), 2),
        max_frame_age_s=settings.max_frame_age,
        job_result_ttl_s=settings.job_result_ttl,
        job_failure_ttl_s=settings.job_failure_ttl,
        max_pending_per_camera=settings.max_pending_per_camera,
        batch_max_frames=settings.batch_max_frames,
        logs=logs,
    )
