"""Hostile jobs through a real ``FerWorker`` on a real Redis, and what a user would see.

A ``JobHarness`` owns one worker, built as ``python -m worker`` builds it (the
``FrameJob`` class, the msgpack serializer, the loaded pipeline), recording into its own
metrics registry. ``run`` queues a burst of jobs on an empty database, lets the worker
serve them (``work(burst=True)``, in batches) and reports the ``Burst``: whether the
worker stopped on an error, which jobs it left unsettled, what the per-camera counters
say, and whether any pickle was ever unpickled.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from prometheus_client import CollectorRegistry
from rq import Queue

from common.accounting import UNKNOWN_CAMERA, read_counts
from common.errors import FerStreamError, InvalidFrame, shorten
from common.keys import counts_hash
from common.metrics import STAGES, WorkerMetrics
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import EMOTIONS
from ferstream.fuzz.jobs import HostileJob, enqueue
from ferstream.fuzz.messages import CAMERAS
from ferstream.fuzz.targets import worker_stack
from worker.batch import INTERNAL, STALE, TIMED_OUT
from worker.pipeline import FramePipeline
from worker.rqworker import ABANDONED, FerWorker

RQ_LOGGER = "rq.worker"
QUIETED_LOGGERS = ("worker", "rq.job")  # they warn of each job refused: most of them here
CRASHED = "found an unhandled exception"  # RQ's words as an error stops its work loop
WORK_DEPTH = 5  # frames under a worker's call to work() (``python -m worker``)
SETTLED = {None, b"finished", b"failed"}  # a job's status once served (None: deleted)


def known_reasons() -> frozenset[str]:
    """Every reason a frame can be counted under: the project's errors' and the worker's."""
    errors, seen = [FerStreamError], []
    while errors:
        error = errors.pop()
        seen.append(error.reason)
        errors.extend(error.__subclasses__())
    return frozenset([*seen, *InvalidFrame.REASONS, INTERNAL, TIMED_OUT, ABANDONED, STALE])


def label_bounds() -> dict[str, frozenset[str]]:
    """The values each worker metric label may take after any input."""
    return {
        "camera": frozenset([*CAMERAS, UNKNOWN_CAMERA]),
        "reason": known_reasons(),
        "stage": frozenset(STAGES),
        "emotion": frozenset(EMOTIONS),
    }


@dataclass(frozen=True)
class Burst:
    """What a burst of jobs did."""

    jobs: int
    crashes: tuple[str, ...]  # "Type: message" of each error that stopped the worker
    unsettled: tuple[str, ...]  # jobs left queued or started, as "id: status"
    counted: Counter[str] = field(default_factory=Counter)  # "processed", "failed:schema", ...
    cameras: frozenset[str] = frozenset()  # whose counters moved
    unpickled: bool = False  # a pickle's trap went off


class _CrashLog(logging.Handler):
    """Notes each error that stops RQ's work loop (RQ logs it, then quits)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.crashes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if CRASHED in record.getMessage():
            _, error, _ = record.exc_info or (None, None, None)
            self.crashes.append(f"{type(error).__name__}: {shorten(str(error))}")


@contextmanager
def _watching_crashes() -> Iterator[_CrashLog]:
    """RQ's worker log, only for the errors that stop it; the others, errors only."""
    handler, rq_log = _CrashLog(), logging.getLogger(RQ_LOGGER)
    quieted = [logging.getLogger(name) for name in QUIETED_LOGGERS]
    levels, propagate = [each.level for each in quieted], rq_log.propagate
    rq_log.addHandler(handler)  # RQ then adds no stderr handler of its own
    rq_log.propagate = False
    for each in quieted:
        each.setLevel(logging.ERROR)
    try:
        yield handler
    finally:
        rq_log.removeHandler(handler)
        rq_log.propagate = propagate
        for each, level in zip(quieted, levels, strict=True):
            each.setLevel(level)


class JobHarness:
    """One real worker serving bursts of hostile jobs on ``connection``'s database (which
    it flushes before each burst)."""

    def __init__(
        self, connection: redis.Redis[bytes], settings: Settings, pipeline: FramePipeline
    ) -> None:
        self.connection, self.settings = connection, settings
        self.registry = CollectorRegistry()
        self.queue = Queue(
            settings.queue_name,
            connection=connection,
            serializer=MsgpackSerializer,
            job_class=FrameJob,
        )
        self.worker = FerWorker(
            [self.queue],
            settings=settings,
            pipeline=pipeline,
            metrics=WorkerMetrics.create(self.registry),
            connection=connection,
        )
        self._traps = tempfile.TemporaryDirectory(prefix="ferstream-fuzz-")
        self.trap = Path(self._traps.name) / "unpickled"  # a pickle's trap touches it

    def close(self) -> None:
        self._traps.cleanup()

    def run(self, jobs: Sequence[HostileJob]) -> Burst:
        """Queue ``jobs`` on an empty database, serve them, and say what happened."""
        self.connection.flushdb()
        ids = [enqueue(self.queue, job) for job in jobs]
        with _watching_crashes() as crash_log:
            try:
                with worker_stack(WORK_DEPTH):
                    self.worker.work(burst=True)
            except Exception as exc:  # RQ's loop lets nothing out but exits: note it anyway
                crash_log.crashes.append(f"{type(exc).__name__}: {shorten(str(exc))}")
        return Burst(
            jobs=len(jobs),
            crashes=tuple(crash_log.crashes),
            unsettled=tuple(self._unsettled(ids)),
            counted=self._counted(),
            cameras=frozenset(self._cameras()),
            unpickled=self.trap.exists(),
        )

    def labels(self) -> dict[str, set[str]]:
        """Every value each label of the worker's metrics has taken so far."""
        found: dict[str, set[str]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                for name, value in sample.labels.items():
                    if name != "le":  # a histogram's buckets
                        found.setdefault(name, set()).add(value)
        return found

    def _unsettled(self, ids: Sequence[str]) -> Iterator[str]:
        for job_id in ids:
            status = self.connection.hget(FrameJob.key_for(job_id), "status")
            if status not in SETTLED:
                yield f"{job_id}: {status!r}"
        if self.queue.count or self.connection.llen(self.queue.intermediate_queue_key):
            yield "jobs left on the queue"

    def _cameras(self) -> Iterator[str]:
        prefix = counts_hash(self.settings.key_prefix, "")
        for key in self.connection.scan_iter(match=f"{prefix}*"):
            yield key.decode()[len(prefix) :]

    def _counted(self) -> Counter[str]:
        counted: Counter[str] = Counter()
        for camera in self._cameras():
            counts = read_counts(self.connection, self.settings.key_prefix, camera)
            counted["processed"] += counts.processed
            counted.update({f"dropped:{k}": v for k, v in counts.dropped.items()})
            counted.update({f"failed:{k}": v for k, v in counts.failed.items()})
        return +counted
