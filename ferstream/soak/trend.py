"""How a soak's series are judged: a warm-up left out, a least-squares line, a noise rule.

- **Warm-up**: the first ``WARMUP_SECONDS`` (2 min), or ``WARMUP_FRACTION`` (10 %) of a
  longer run, never more than half the run, is not judged: models load, allocators
  settle. Redis is judged later still, once failed jobs (kept ``job_failure_ttl``) and
  finished ones (``job_result_ttl``) turn over and every camera's result stream holds
  its ``results_stream_maxlen`` results: until then its memory grows by design.
- **Within noise of 0**: the line's change over the judged window, ``|slope| x window``,
  is at most max(``NOISE_STDS`` (2) x the residuals' standard deviation, a floor:
  ``MEMORY_FLOOR_MIB`` (1 MiB), ``FDS_FLOOR`` (2 descriptors), ``P99_FLOOR_MS`` (5 ms)).
  File descriptors are judged for the workers; this process's and Redis's (which follow
  this process's own connections) are shown.
- **p99 steady**: the p99 of every result published in the judged window's last third
  is at most ``P99_RATIO_LIMIT`` (1.5) x that of its first third, and the p99 of the
  windows has no trend beyond noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ferstream.bench.load import percentiles
from ferstream.soak.probe import LatencyLog
from ferstream.soak.results import SoakSample, Steadiness, Trend

WARMUP_SECONDS = 120.0
WARMUP_FRACTION = 0.1
MIN_FIT_SAMPLES = 4
NOISE_STDS = 2.0
MEMORY_FLOOR_MIB = 1.0
FDS_FLOOR = 2.0  # a leak grows steadily; one more socket opened on demand moves a fit ~1.5
P99_FLOOR_MS = 5.0
P99_RATIO_LIMIT = 1.5
HOUR = 3600.0


def warmup_seconds(duration: float) -> float:
    """The part of a ``duration``-second run left out of every judgement."""
    return min(max(WARMUP_SECONDS, WARMUP_FRACTION * duration), duration / 2.0)


def fit_trend(
    times_s: Sequence[float], values: Sequence[float], floor: float, unit: str
) -> Trend | None:
    """The least-squares line through (``times_s``, ``values``), judged against noise with
    ``floor`` (in ``unit``); None with fewer than ``MIN_FIT_SAMPLES`` points."""
    if len(times_s) != len(values):
        raise ValueError(f"expected as many times as values, got {len(times_s)} and {len(values)}")
    if len(values) < MIN_FIT_SAMPLES:
        return None
    t, y = np.asarray(times_s, dtype=np.float64), np.asarray(values, dtype=np.float64)
    slope, intercept = (float(v) for v in np.polyfit(t, y, 1))
    residual_std = float(np.std(y - (slope * t + intercept), ddof=2))
    first, last = float(t[0]), float(t[-1])
    start, end = slope * first + intercept, slope * last + intercept
    bound = max(NOISE_STDS * residual_std, floor)
    return Trend(
        unit=unit,
        from_s=_rounded(first, 2),
        to_s=_rounded(last, 2),
        samples=len(values),
        fitted_start=_rounded(start, 3),
        fitted_end=_rounded(end, 3),
        slope_per_hour=_rounded(slope * HOUR, 3),
        change=_rounded(end - start, 3),
        residual_std=_rounded(residual_std, 3),
        bound=_rounded(bound, 3),
        within_noise=bool(abs(end - start) <= bound),
    )


def _rounded(value: float, digits: int) -> float:
    return round(value, digits) + 0.0  # + 0.0: no "-0.0"


def steadiness(trend: Trend | None, first_ms: float | None, last_ms: float | None) -> Steadiness:
    """p99 steady: the last third's at most ``P99_RATIO_LIMIT`` x the first's, no trend."""
    if first_ms is None or last_ms is None or not first_ms:
        return Steadiness(trend, first_ms, last_ms, None, None)
    ratio = last_ms / first_ms
    steady = ratio <= P99_RATIO_LIMIT and (trend is None or trend.within_noise)
    return Steadiness(trend, first_ms, last_ms, round(ratio, 3), steady)


def series_trends(
    samples: Sequence[SoakSample],
    from_s: float,
    values: Callable[[SoakSample], Mapping[str, float]],
    floor: float,
    unit: str,
) -> dict[str, Trend | None]:
    """A trend per named series (a worker, a process) of the samples taken from ``from_s``."""
    judged = [s for s in samples if s.end_s >= from_s and not s.draining]
    trends = {}
    for name in sorted({name for s in samples for name in values(s)}):
        points = [(s.end_s, values(s)[name]) for s in judged if name in values(s)]
        trends[name] = fit_trend([t for t, _ in points], [v for _, v in points], floor, unit)
    return trends


def sample_trend(
    samples: Sequence[SoakSample],
    from_s: float,
    value: Callable[[SoakSample], float | None],
    floor: float,
    unit: str,
) -> Trend | None:
    """The trend of one figure of the samples taken from ``from_s`` (None values left out)."""
    judged = [s for s in samples if s.end_s >= from_s and not s.draining]
    points = [(s.end_s, v) for s in judged if (v := value(s)) is not None]
    return fit_trend([t for t, _ in points], [v for _, v in points], floor, unit)


def p99_steadiness(
    samples: Sequence[SoakSample],
    latencies: LatencyLog,
    load_start: float,
    from_s: float,
    to_s: float,
) -> Steadiness:
    """The windows' p99 trend from ``from_s``, and the p99 of the results published in the
    first and the last third of [``from_s``, ``to_s``] (seconds since ``load_start``)."""
    points = [
        (s.end_s, s.latency_ms.p99)
        for s in samples
        if s.end_s >= from_s and not s.draining and s.latency_ms.p99 is not None
    ]
    trend = fit_trend(
        [t for t, _ in points], [float(v or 0.0) for _, v in points], P99_FLOOR_MS, "ms"
    )
    begin, end = load_start + from_s, load_start + to_s
    third = (end - begin) / 3.0
    first = percentiles(latencies.between(begin, begin + third)).p99
    last = percentiles(latencies.between(end - third, end)).p99
    return steadiness(trend, first, last)
