"""Micro-batching: a worker that finds several frames waiting serves them with one model call.

RQ hands ``FerWorker`` one job. It takes up to ``batch_max_frames - 1`` more from its
queues without blocking (waiting at most ``batch_max_wait`` for them), runs their frames
through ``FramePipeline.process_many`` (one classifier call for every face) and keeps each
outcome here under its job id. Every job then runs through RQ's bookkeeping (started,
finished or failed, result TTL; for the whole batch at once, ``worker.bulk``) and
``process_frame`` takes its prepared outcome instead of computing one. A job with
nothing prepared (a lone frame, a foreign or undecodable job, a batch that raised)
computes its own, so batching never changes what a job returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rq.exceptions import DeserializationError
from rq.job import Job

from common.errors import FerStreamError, SchemaError
from common.metrics import worker_metrics
from common.wire import Frame, Result
from worker.pipeline import FramePipeline

log = logging.getLogger(__name__)

PROCESS_FRAME = "worker.jobs.process_frame"  # the job function (``worker.jobs`` imports this)


@dataclass(frozen=True)
class Prepared:
    """A frame's outcome, computed with its batch before its job started."""

    frame: Frame  # as decoded for the batch: the job need not decode it again
    reached_at: float  # unix time the worker took the frame up: its age is judged then
    outcome: Result | FerStreamError


_prepared: dict[str, Prepared] = {}


def prepare(pipeline: FramePipeline, jobs: Sequence[tuple[Job, Frame | None]]) -> None:
    """Compute the outcomes of the fresh frames among ``jobs`` (each with its decoded
    ``frame_of``) in one batch.

    Nothing is prepared when fewer than two qualify: a lone frame gains nothing and its
    job computes it. Outcomes of an earlier batch are forgotten.
    """
    _prepared.clear()
    reached_at = time.time()
    picked: list[tuple[str, Frame, float]] = []
    for job, frame in jobs:
        if frame is None or reached_at - frame.captured_at > pipeline.settings.max_frame_age:
            continue  # the job itself fails or drops it, and counts why
        enqueued = timestamp(job.enqueued_at) if job.enqueued_at else frame.captured_at
        picked.append((job.id, frame, reached_at - enqueued))
    if len(picked) < 2:
        return
    try:
        outcomes = pipeline.process_many([f for _, f, _ in picked], [w for _, _, w in picked])
    except Exception:
        log.exception("a batch of %d frames failed: its jobs run one by one", len(picked))
        return
    for (job_id, frame, _), outcome in zip(picked, outcomes, strict=True):
        _prepared[job_id] = Prepared(frame, reached_at, outcome)
    worker_metrics().record_batch(len(picked))


def take(job_id: str) -> Prepared | None:
    """The outcome prepared for ``job_id`` (only once), or None."""
    return _prepared.pop(job_id, None)


def frame_of(job: Job) -> Frame | None:
    """The wire ``Frame`` a frame job carries, or None for any other or unreadable job."""
    try:
        if job.func_name != PROCESS_FRAME or len(job.args) != 1:
            return None
        payload = job.args[0]
        return Frame.decode(payload) if isinstance(payload, bytes) else None
    except (DeserializationError, SchemaError):
        return None


def timestamp(moment: datetime) -> float:
    """Unix seconds of an RQ timestamp (UTC, with or without tzinfo)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
