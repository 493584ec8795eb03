"""What ``ferstream bench`` measures, as typed results; ``to_json`` gives the report's JSON.

A ``BenchReport`` holds the run's ``BenchMeta``, the ``References``, a ``SaturationRun``
per pool size, a ``LoadRun`` per offered load, the fairness run, the run without
micro-batching and the judged ``Target`` rows. Every run against the pool is a
``PoolRun``: its counts, latencies and accounting per camera (``CameraAccount``), and
what the ``Watched`` sampler saw meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

Reasons = dict[str, int]  # counts by reason: dropped or failed frames


def merge_reasons(parts: Iterable[Reasons]) -> Reasons:
    """Counts by reason, added up."""
    merged: dict[str, int] = {}
    for part in parts:
        for reason, amount in part.items():
            merged[reason] = merged.get(reason, 0) + amount
    return merged


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds; all None when nothing was measured."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class MemoryRange:
    """Redis ``used_memory`` over a run, MiB."""

    start: float
    max: float
    end: float


@dataclass(frozen=True)
class Watched:
    """What the sampler saw during one run (``ferstream.bench.watch.Watcher.end``)."""

    cpu_seconds: dict[str, float | None]  # workers, redis, bench
    redis_used_mb: MemoryRange
    redis_peak_mb: float
    redis_growth_mb_per_min: float | None  # once settled; None: the run was too short
    redis_settled_peaks_mb: list[float] | None  # the settled window's two halves
    redis_flat: bool | None
    worker_rss_mb: list[float]
    load_avg_1m: float


@dataclass(frozen=True)
class CameraAccount:
    """One camera's counts after a run, and whether its accounting identity holds."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("offered_fps", "latency_ms")

    submitted: int
    processed: int
    dropped: Reasons
    failed: Reasons
    pending: int
    results_read: int
    identity_holds: bool  # nothing pending, and every processed frame published and read
    offered_fps: float | None = None  # runs at an offered rate only
    latency_ms: Percentiles | None = None  # runs at an offered rate only


@dataclass(frozen=True)
class PoolRun:
    """What every run against the pool reports."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    cpu_ms_per_frame: dict[str, float | None]  # workers, redis, bench
    run: str
    drained: bool
    submitted: int
    processed: int
    dropped: Reasons
    failed: Reasons
    results_read: int
    latency_ms: Percentiles
    stage_ms: dict[str, Percentiles]
    overhead_ms: Percentiles
    face_recall: float | None
    label_accuracy: float | None
    cameras: dict[str, CameraAccount]
    identity_holds: bool
    watched: Watched

    def common(self) -> dict[str, Any]:
        """This run's own fields, to build a run of a kind that adds some."""
        return {f.name: getattr(self, f.name) for f in fields(PoolRun)}


@dataclass(frozen=True)
class SaturationRun(PoolRun):
    """A pool working off a backlog: its capacity."""

    workers: int
    backlog: int
    idle_phases: int
    dry_phases: int
    window_s: float
    frames_per_s: float
    faces_per_s: float
    frames_per_model_call: float | None = None


@dataclass(frozen=True)
class LoadRun(PoolRun):
    """Cameras offering frames at set rates for ``duration_s``."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("load_pct", "workers")

    offered_fps: float
    submitted_fps: float
    processed_fps: float
    faces_per_s: float
    duration_s: float
    load_pct: int | None = None  # % of the pool's saturation, for the offered-load steps
    workers: int | None = None


@dataclass(frozen=True)
class ReferenceRun:
    """One in-process reference (``ferstream.bench.reference``)."""

    name: str
    processes: int
    frames: int
    faces: int
    frames_per_s: float
    faces_per_s: float
    cpu_fraction: float  # CPU seconds per wall second, per process
    face_recall: float | None


@dataclass(frozen=True)
class Skipped:
    """A reference that did not run, and why."""

    skipped: str


@dataclass(frozen=True)
class References:
    notebook: ReferenceRun | None = None
    fer: ReferenceRun | Skipped | None = None
    fer_keras: ReferenceRun | Skipped | None = None
    floor: dict[str, ReferenceRun] = field(default_factory=dict)  # by process count

    def ran(self, name: str) -> ReferenceRun | None:
        """The ``notebook``, ``fer`` or ``fer_keras`` run, if it ran."""
        run = getattr(self, name)
        return run if isinstance(run, ReferenceRun) else None


@dataclass(frozen=True)
class BenchMeta:
    """How the run was set up."""

    date: str
    cpu_count: int | None
    load_avg_1m: float
    python: str
    versions: dict[str, str]
    note: str
    detection: str
    queueing: str
    model: str
    flip_tta: bool
    scenes: int
    cameras: int
    workers: list[int]
    duration_s: float
    overload_duration_s: float
    saturation_s: float
    warmup_s: float
    reference_s: float
    max_frame_age_s: float
    job_result_ttl_s: int
    batch_max_frames: int
    batch_max_wait_s: float
    saturation_method: str
    load_workers: int = 0  # the pool the loads ran on: the largest


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: what it asks, what was measured, met / not / not measured."""

    target: str
    measured: str
    met: bool | None


@dataclass(frozen=True)
class BenchReport:
    meta: BenchMeta
    references: References
    saturation: dict[str, SaturationRun] = field(default_factory=dict)  # by worker count
    loads: list[LoadRun] = field(default_factory=list)
    fairness: LoadRun | None = None
    batching_off: SaturationRun | None = None
    targets: list[Target] = field(default_factory=list)

    def runs(self) -> list[PoolRun]:
        """Every run against the pool, in the order they ran."""
        extra = [run for run in (self.fairness, self.batching_off) if run is not None]
        return [*self.saturation.values(), *self.loads, *extra]

    def to_json(self) -> dict[str, Any]:
        return {
            "meta": asdict(self.meta),
            "references": {
                name: None if run is None else asdict(run)
                for name, run in (
                    ("notebook", self.references.notebook),
                    ("fer", self.references.fer),
                    ("fer_keras", self.references.fer_keras),
                )
            }
            | {"floor": {n: asdict(run) for n, run in self.references.floor.items()}},
            "saturation": {n: run_json(run) for n, run in self.saturation.items()},
            "loads": [run_json(run) for run in self.loads],
            "fairness": None if self.fairness is None else run_json(self.fairness),
            "batching_off": None if self.batching_off is None else run_json(self.batching_off),
            "targets": [asdict(target) for target in self.targets],
        }


def run_json(run: PoolRun) -> dict[str, Any]:
    """A run as the report's JSON has it: flat, the sampler's figures beside the counts."""
    data = asdict(run)
    data.update(data.pop("watched"))
    data["cameras"] = {
        camera: _without_none(asdict(account), CameraAccount.OPTIONAL)
        for camera, account in run.cameras.items()
    }
    return _without_none(data, run.OPTIONAL)


def _without_none(data: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in optional or v is not None}
