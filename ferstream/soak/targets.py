"""The soak's targets, and a report judged against them."""

from __future__ import annotations

from collections.abc import Mapping

from ferstream.bench.results import Reasons, Target
from ferstream.bench.tables import reasons
from ferstream.soak.results import Errors, Injection, SoakReport, Steadiness, Trend
from ferstream.soak.trend import P99_RATIO_LIMIT


def evaluate_targets(report: SoakReport) -> list[Target]:
    """Each target: what it asks, what was measured, met / not met / not measured."""
    return [
        _trends_target("worker RSS: slope within noise of 0", report.worker_rss),
        _redis_target(report),
        _trends_target(
            "worker open file descriptors: slope within noise of 0", report.worker_fds()
        ),
        _p99_target(report.p99),
        _errors_target(report.errors),
        _injection_target(report.injection),
        _identity_target(report),
    ]


def describe_trend(trend: Trend) -> str:
    """'+3.2 MiB/h (+0.10 MiB over 27.0 min; bound 1.00)'."""
    return (
        f"{trend.slope_per_hour:+.2f} {trend.unit}/h ({trend.change:+.2f} {trend.unit} over "
        f"{span(trend.to_s - trend.from_s)}; bound {trend.bound:.2f})"
    )


def span(seconds: float) -> str:
    """'45 s' under two minutes, else '12.5 min'."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60.0:.1f} min"


def _trends_target(target: str, trends: Mapping[str, Trend | None]) -> Target:
    fitted = {name: trend for name, trend in trends.items() if trend is not None}
    if not fitted:
        return Target(target, "too few samples after the warm-up", None)
    measured = "; ".join(f"{name}: {describe_trend(t)}" for name, t in sorted(fitted.items()))
    return Target(target, measured, all(t.within_noise for t in fitted.values()))


def _redis_target(report: SoakReport) -> Target:
    target = "Redis used_memory: slope within noise of 0"
    trend = report.redis_used
    if trend is None:
        meta = report.meta
        return Target(
            target,
            f"not judged: the run ended before {span(meta.redis_from_s)} (when failed jobs, "
            f"kept {meta.job_failure_ttl_s} s, have turned over and the result streams are "
            "full) had enough samples after it",
            None,
        )
    return Target(target, describe_trend(trend), trend.within_noise)


def _p99_target(p99: Steadiness) -> Target:
    target = f"p99 end-to-end steady (last third <= {P99_RATIO_LIMIT:g} x first, no trend)"
    if p99.steady is None:
        return Target(target, "too few results after the warm-up", None)
    slope = "no fit" if p99.trend is None else f"windows' p99 {describe_trend(p99.trend)}"
    return Target(
        target,
        f"{p99.last_third_p99_ms} / {p99.first_third_p99_ms} ms = {p99.ratio:.2f} x; {slope}",
        p99.steady,
    )


def _errors_target(errors: Errors) -> Target:
    return Target(
        "no errors beyond the injected bad frames",
        f"{errors.total}: failed beyond the injected {reasons(errors.failed)}, "
        f"frames Redis refused {errors.submit_errors}, worker restarts {errors.worker_restarts}",
        errors.total == 0,
    )


def _injection_target(injection: Injection) -> Target:
    parts = [
        f"{reason} {injection.failed.get(reason, 0)} of {n}"
        for reason, n in sorted(injection.injected.items())
    ]
    measured = f"one in {injection.every}: " + (", ".join(parts) or "none injected")
    if injection.injected and not injection.exact:
        measured += (
            f"; the {injection.short} short are within the {injection.queue_full} frames "
            "the overflow policy dropped before a worker reached them (dropped:queue_full)"
            if injection.accounted
            else f"; {injection.short} short, more than the {injection.queue_full} dropped"
        )
    return Target(
        "injected bad frames counted failed under their reasons (or dropped unseen by the "
        "overflow policy), never more",
        measured,
        injection.accounted if injection.injected else None,
    )


def _identity_target(report: SoakReport) -> Target:
    broken = [camera for camera, account in report.cameras.items() if not account.identity_holds]
    measured = ", ".join(
        f"{camera} {account.submitted} = {account.processed} + "
        f"{_total(account.dropped)} + {_total(account.failed)} + {account.pending}"
        for camera, account in report.cameras.items()
    )
    if not report.drained:
        measured += "; the drain timed out"
    return Target(
        "accounting identity exact per camera (submitted = processed + dropped + failed "
        "+ pending, after a drain)",
        measured + (f"; broken: {', '.join(broken)}" if broken else ""),
        report.identity_holds,
    )


def _total(counts: Reasons) -> int:
    return sum(counts.values())
