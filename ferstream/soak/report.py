"""The soak's report: ``soak.json``, ``soak.md`` and ``soak.png`` (RSS, Redis memory, file
descriptors and p99 against time)."""

from __future__ import annotations

import json
from pathlib import Path

from ferstream.bench.plots import Panel, plot_timeline
from ferstream.bench.results import Target
from ferstream.bench.tables import ms, reasons
from ferstream.soak.results import SoakReport, SoakSample, Trend
from ferstream.soak.targets import describe_trend, span
from ferstream.soak.trend import (
    FDS_FLOOR,
    MEMORY_FLOOR_MIB,
    NOISE_STDS,
    P99_FLOOR_MS,
    P99_RATIO_LIMIT,
)

OWN = ("soak", "redis")  # processes whose descriptors are shown beside the workers'


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not measured"}[met]


def _setup(report: SoakReport) -> list[str]:
    meta = report.meta
    saturation = report.saturation
    measured = (
        f"; saturation {saturation.frames_per_s} frames/s measured first"
        if saturation is not None
        else ""
    )
    stopped = " (interrupted)" if meta.interrupted else ""
    return [
        f"{meta.date}, {meta.cpu_count} cores, load average {meta.load_avg_1m} at start. "
        f"*{meta.note}*",
        "",
        f"{meta.workers} workers, {meta.cameras} cameras, {meta.offered_fps} frames/s offered "
        f"in all ({meta.fps_source}{measured}) for {span(meta.ran_s)} of "
        f"{span(meta.planned_s)}{stopped}; {meta.scenes} scenes; one bad frame in "
        f"{meta.bad_every} per camera (truncated JPEG, garbage bytes, wrong schema, in turn); "
        f"a sample every {meta.sample_s:g} s. Max frame age {meta.max_frame_age_s:g} s, "
        f"{meta.max_pending_per_camera} pending frames per camera, batches of up to "
        f"{meta.batch_max_frames}; finished jobs kept {meta.job_result_ttl_s} s, failed ones "
        f"{meta.job_failure_ttl_s} s. Worker logs: `{meta.logs}`.",
    ]


def _rules(report: SoakReport) -> list[str]:
    meta = report.meta
    return [
        f"- Warm-up: the first {span(meta.warmup_s)} (2 min, or 10 % of a longer run, "
        "at most half of it) are not judged. Redis memory is judged from "
        f"{span(meta.redis_from_s)}: until failed jobs (kept "
        f"{meta.job_failure_ttl_s} s, with their frame) turn over and every camera's result "
        "stream is full, it grows by design.",
        "- Slopes are least-squares lines through the samples after the warm-up, stated per "
        "hour. Within noise of 0: the line's change over the judged window is at most "
        f"max({NOISE_STDS:g} x the residuals' standard deviation, a floor: "
        f"{MEMORY_FLOOR_MIB:g} MiB for memory, {FDS_FLOOR:g} descriptors, {P99_FLOOR_MS:g} ms "
        "for p99). File descriptors are judged for the workers; this process's and Redis's "
        "(which follow this process's own connections) are shown.",
        f"- p99 steady: the p99 of the results published in the judged window's last third "
        f"is at most {P99_RATIO_LIMIT:g} x the first third's, and the windows' p99 has no "
        "trend beyond noise.",
        "- Errors beyond the injected: for each reason, frames counted failed beyond the bad "
        "frames injected with it; frames Redis refused; worker processes restarted. Bad "
        "frames must be counted failed exactly as often as injected: a truncated JPEG as "
        "`truncated`, garbage bytes as `decode` (under their camera), a message that fails "
        "the schema as `schema` (under `_unknown`, where the soak counts it submitted: no "
        "camera can be trusted from it). Drops (stale, queue_full) are shown, not errors.",
        "- Latency is end to end, capture to published, of the results published in each window.",
    ]


def _trend_rows(report: SoakReport) -> list[str]:
    rows: list[tuple[str, Trend | None]] = [
        *((f"RSS, worker {pid}", t) for pid, t in sorted(report.worker_rss.items())),
        ("Redis used_memory", report.redis_used),
        *((f"fds, {name}{_shown(name)}", t) for name, t in sorted(report.fds.items())),
        ("p99 of the windows", report.p99.trend),
    ]
    lines = [
        "| series | judged from | samples | slope | residual std | within noise |",
        "| --- | ---: | ---: | --- | ---: | --- |",
    ]
    for name, trend in rows:
        if trend is None:
            lines.append(f"| {name} | - | - | not fitted | - | - |")
            continue
        lines.append(
            f"| {name} | {span(trend.from_s)} | {trend.samples} | {describe_trend(trend)} "
            f"| {trend.residual_std:.2f} | {'yes' if trend.within_noise else '**no**'} |"
        )
    return lines


def _shown(process: str) -> str:
    return "" if process.startswith("worker") else " (shown, not judged)"


def _sample_rows(samples: list[SoakSample]) -> list[str]:
    lines = [
        "| min | worker RSS MiB | Redis MiB | fds (workers / soak / redis) | results | p50 ms "
        "| p99 ms | processed | dropped | failed | injected | errors |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]
    for s in samples:
        workers = [n for name, n in sorted(s.fds.items()) if name.startswith("worker")]
        fds = " / ".join(
            (",".join(str(n) for n in workers) or "-", *(str(s.fds.get(k, "-")) for k in OWN))
        )
        rss = ", ".join(f"{v:.1f}" for _, v in sorted(s.worker_rss_mb.items())) or "-"
        lines.append(
            f"| {s.end_s / 60.0:.2f}{' (drain)' if s.draining else ''} | {rss} | "
            f"{s.redis_used_mb if s.redis_used_mb is not None else '-'} | {fds} | {s.results} | "
            f"{ms(s.latency_ms.p50)} | {ms(s.latency_ms.p99)} | {s.processed} | "
            f"{reasons(s.dropped)} | {reasons(s.failed)} | {reasons(s.injected)} | {s.errors} |"
        )
    return lines


def _accounting_rows(report: SoakReport) -> list[str]:
    lines = [
        "| camera | submitted | processed | dropped | failed | pending | results read | exact |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for camera, a in report.cameras.items():
        lines.append(
            f"| {camera} | {a.submitted} | {a.processed} | {reasons(a.dropped)} | "
            f"{reasons(a.failed)} | {a.pending} | {a.results_read} | "
            f"{'yes' if a.identity_holds else '**no**'} |"
        )
    return lines


def progress_line(s: SoakSample) -> str:
    """One sample as the soak prints it while it runs."""
    rss = ", ".join(f"{v:.1f}" for _, v in sorted(s.worker_rss_mb.items())) or "-"
    workers = ",".join(str(n) for name, n in sorted(s.fds.items()) if name.startswith("worker"))
    redis = "-" if s.redis_used_mb is None else f"{s.redis_used_mb:.2f}"
    return (
        f"{int(s.end_s // 60):4d}:{int(s.end_s % 60):02d}{' drain' if s.draining else ''}  "
        f"rss {rss} MiB  "
        f"redis {redis} MiB  fds {workers or '-'}/{s.fds.get('soak', '-')}/"
        f"{s.fds.get('redis', '-')}  p50 {ms(s.latency_ms.p50)} p99 {ms(s.latency_ms.p99)} ms  "
        f"processed {s.processed}  dropped {sum(s.dropped.values())}  "
        f"failed {sum(s.failed.values())} (injected {sum(s.injected.values())})  errors {s.errors}"
    )


def _targets(targets: list[Target]) -> list[str]:
    return [
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        *(f"| {t.target} | {t.measured} | {_verdict(t.met)} |" for t in targets),
    ]


def report_markdown(report: SoakReport) -> str:
    latency = report.latency_ms
    lines = [
        "# ferstream soak",
        "",
        *_setup(report),
        "",
        "## Targets",
        "",
        *_targets(report.targets),
        "",
        f"End to end over the whole load: p50 {ms(latency.p50)} ms, p99 {ms(latency.p99)} ms, "
        f"max {ms(latency.max)} ms. ![soak](soak.png)",
        "",
        "## Trends (after the warm-up)",
        "",
        *_trend_rows(report),
        "",
        "## Accounting (after a drain)",
        "",
        *_accounting_rows(report),
        "",
        "## How it is judged",
        "",
        *_rules(report),
        "",
        "## Samples",
        "",
        *_sample_rows(report.samples),
    ]
    return "\n".join(lines) + "\n"


def write_report(report: SoakReport, out: Path) -> list[Path]:
    """``soak.json``, ``soak.md`` and ``soak.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "soak.json", out / "soak.md"]
    paths[0].write_text(json.dumps(report.to_json(), indent=2))
    paths[1].write_text(report_markdown(report))
    paths.append(_figure(report, out / "soak.png"))
    return paths


def _minutes(s: SoakSample) -> float:
    return s.end_s / 60.0


def _rss(samples: list[SoakSample], pid: str) -> list[tuple[float, float]]:
    return [(_minutes(s), s.worker_rss_mb[pid]) for s in samples if pid in s.worker_rss_mb]


def _fds(samples: list[SoakSample], name: str) -> list[tuple[float, float]]:
    return [(_minutes(s), float(s.fds[name])) for s in samples if name in s.fds]


def _fit(trend: Trend | None) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    if trend is None:
        return []
    return [((trend.from_s / 60.0, trend.fitted_start), (trend.to_s / 60.0, trend.fitted_end))]


def _figure(report: SoakReport, path: Path) -> Path:
    samples = report.load_samples()
    warmup = report.meta.warmup_s / 60.0
    pids = sorted({pid for s in samples for pid in s.worker_rss_mb})
    processes = sorted({name for s in samples for name in s.fds})
    rss = Panel(
        "worker RSS",
        "MiB",
        {f"worker {pid}": _rss(samples, pid) for pid in pids},
        [line for pid in pids for line in _fit(report.worker_rss.get(pid))],
        warmup,
    )
    redis = Panel(
        "Redis used_memory",
        "MiB",
        {"used_memory": [(_minutes(s), s.redis_used_mb) for s in samples if s.redis_used_mb]},
        _fit(report.redis_used),
        report.meta.redis_from_s / 60.0,
    )
    fds = Panel(
        "open file descriptors",
        "descriptors",
        {name: _fds(samples, name) for name in processes},
        [line for name in processes for line in _fit(report.fds.get(name))],
        warmup,
    )
    latency = Panel(
        "end-to-end latency of each window's results",
        "ms",
        {
            name: [(_minutes(s), v) for s in samples if (v := getattr(s.latency_ms, name))]
            for name in ("p50", "p99")
        },
        _fit(report.p99.trend),
        warmup,
    )
    title = f"ferstream soak: {report.meta.offered_fps} frames/s, {report.meta.workers} workers"
    return plot_timeline(path, [rss, redis, fds, latency], title)
