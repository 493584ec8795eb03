"""What ``ferstream soak`` measures, as typed results; ``to_json`` gives the report's JSON.

A ``SoakReport`` holds the run's ``SoakMeta``, the saturation it measured (if it did),
one ``SoakSample`` per sampling window, the fitted ``Trend`` of every series judged, the
p99's ``Steadiness``, the bad frames' ``Injection``, the ``Errors`` beyond them, every
camera's ``CameraAccount`` after the drain, and the judged ``Target`` rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ferstream.bench.results import (
    CameraAccount,
    Percentiles,
    Reasons,
    SaturationRun,
    Target,
    run_json,
)


@dataclass(frozen=True)
class SoakSample:
    """One sampling window: what the processes held at its end, and what happened in it."""

    start_s: float  # seconds since the load started
    end_s: float
    draining: bool  # after the load, while the queue was worked off
    worker_rss_mb: dict[str, float]  # by worker pid
    redis_used_mb: float | None
    fds: dict[str, int]  # open file descriptors: "worker <pid>", "soak", "redis"
    results: int  # published in the window and read from the result streams
    latency_ms: Percentiles  # end to end, of those results
    processed: int
    dropped: Reasons
    failed: Reasons
    injected: Reasons  # bad frames queued in the window, by the reason they must fail under
    errors: int  # beyond the injected bad frames (``ferstream.soak.probe.errors_so_far``)
    load_avg_1m: float


@dataclass(frozen=True)
class Trend:
    """A least-squares line through one series, over the judged part of the run.

    Within noise of 0: the fitted change over the window, ``|slope| x (to_s - from_s)``,
    is at most ``bound`` = max(2 x the residuals' standard deviation, a floor).
    """

    unit: str
    from_s: float
    to_s: float
    samples: int
    fitted_start: float  # the line's value at from_s
    fitted_end: float  # and at to_s
    slope_per_hour: float  # unit per hour
    change: float  # fitted_end - fitted_start
    residual_std: float
    bound: float
    within_noise: bool


@dataclass(frozen=True)
class Steadiness:
    """p99 over the judged part: its fitted trend, and its last third against its first."""

    trend: Trend | None
    first_third_p99_ms: float | None  # of every result published in that third
    last_third_p99_ms: float | None
    ratio: float | None
    steady: bool | None  # None: too few results to judge


@dataclass(frozen=True)
class Injection:
    """Bad frames queued, by the reason each must fail under, and how many did."""

    every: int
    injected: Reasons
    failed: Reasons  # counted failed under those reasons, every camera
    exact: bool
    queue_full: int = 0  # frames the overflow policy took out of the queue, any frame

    @property
    def short(self) -> int:
        """Injected bad frames not counted failed under their reason."""
        return sum(n - self.failed.get(reason, 0) for reason, n in self.injected.items())

    @property
    def accounted(self) -> bool:
        """Every injected frame failed under its reason, or may have been one the overflow
        policy dropped before a worker reached it (never more than were dropped)."""
        over = any(self.failed.get(reason, 0) > n for reason, n in self.injected.items())
        return not over and self.short <= self.queue_full


@dataclass(frozen=True)
class Errors:
    """What went wrong beyond the injected bad frames, after the drain."""

    failed: Reasons  # failures beyond the injected ones, by reason
    submit_errors: int  # frames Redis refused
    worker_restarts: int

    @property
    def total(self) -> int:
        return sum(self.failed.values()) + self.submit_errors + self.worker_restarts


@dataclass(frozen=True)
class SoakMeta:
    """How the run was set up."""

    date: str
    cpu_count: int | None
    load_avg_1m: float
    python: str
    note: str
    workers: int
    cameras: int
    scenes: int
    planned_s: float
    ran_s: float
    interrupted: bool
    sample_s: float
    offered_fps: float
    fps_source: str  # measured (a share of saturation) or given
    bad_every: int
    warmup_s: float
    redis_from_s: float  # Redis is judged from here: once failed jobs turn over
    max_frame_age_s: float
    job_result_ttl_s: int
    job_failure_ttl_s: int
    max_pending_per_camera: int
    batch_max_frames: int
    logs: str


@dataclass(frozen=True)
class SoakReport:
    meta: SoakMeta
    saturation: SaturationRun | None
    samples: list[SoakSample]
    latency_ms: Percentiles  # every result of the load
    worker_rss: dict[str, Trend | None]  # by worker pid
    redis_used: Trend | None
    fds: dict[str, Trend | None]  # by process
    p99: Steadiness
    injection: Injection
    errors: Errors
    cameras: dict[str, CameraAccount]
    drained: bool
    identity_holds: bool
    targets: list[Target] = field(default_factory=list)

    def worker_fds(self) -> dict[str, Trend | None]:
        """The workers' descriptor trends (this process's and Redis's are only shown)."""
        return {name: t for name, t in self.fds.items() if name.startswith("worker")}

    def load_samples(self) -> list[SoakSample]:
        """The windows of the load, without the drain."""
        return [s for s in self.samples if not s.draining]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["saturation"] = None if self.saturation is None else run_json(self.saturation)
        data["errors"]["total"] = self.errors.total
        return data
