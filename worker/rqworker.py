"""The RQ worker class: no fork per job, micro-batches, only the project's own jobs run."""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import redis
from rq import SimpleWorker
from rq.exceptions import AbandonedJobError, DeserializationError
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import WorkerStatus

from common import accounting
from common.accounting import UNKNOWN_CAMERA
from common.defaults import DEFAULT_KEY_PREFIX
from common.errors import ForeignJobRefused
from common.rqjob import FrameJob
from worker import batching, bulk
from worker.jobs import ALLOWED_JOBS, record_failure
from worker.runtime import installed

log = logging.getLogger(__name__)

HEARTBEAT_MIN_INTERVAL_SECONDS = 1.0
BATCH_POLL_SECONDS = 0.002  # between looks at an empty queue while batch_max_wait runs
# RQ's words when it fails a job that a worker took from the queue and never started
STUCK_IN_INTERMEDIATE_QUEUE = "Job was stuck in intermediate queue"
ABANDONED = "abandoned"


class FerWorker(SimpleWorker):
    """A ``SimpleWorker`` (the model stays loaded in this process) that micro-batches.

    Given a job, it takes more waiting jobs (``batch_max_frames``, ``batch_max_wait``),
    starts them together, prepares their frames in one batch (``worker.batching``),
    performs each job in turn, then finishes them together (``worker.bulk``; a lone frame
    job takes the same path, a batch of one). It stays busy for the whole batch, so a warm
    shutdown finishes the jobs it took. A job naming any function outside
    ``ALLOWED_JOBS``, or naming callbacks or webhooks (RQ imports and calls callbacks by
    name and requests webhook URLs, and the project's producers set none), is failed
    before anything it names is imported or its arguments are read, and counted as
    ``failed:foreign_job``.

    Frames a dead worker held are settled too, when a live worker's registry sweep finds
    them: RQ fails a started job whose worker stopped beating as abandoned, and a job
    taken but never started as stuck; each counts as ``failed:abandoned`` for its camera,
    so submitted = processed + dropped + failed + pending still holds after a crash.
    """

    key_prefix = DEFAULT_KEY_PREFIX
    job_class = FrameJob  # frame data saved raw, as producers enqueue it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._beat_at = -math.inf
        super().__init__(*args, **kwargs)
        self.push_exc_handler(self._settle_if_abandoned)  # type: ignore[no-untyped-call]

    def _settle_if_abandoned(self, job: Job, exc_type: Any, *rest: Any) -> bool:
        """RQ calls this for failed jobs; only abandoned ones are not counted already."""
        if exc_type is AbandonedJobError:
            self._settle_lost(job)
        return True  # the other handlers run as well

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Any = None,
    ) -> None:
        if exc_string.startswith(STUCK_IN_INTERMEDIATE_QUEUE):
            self._settle_lost(job)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _settle_lost(self, job: Job) -> None:
        """Count a frame whose worker died with it. (A frame job finishes in the same MULTI
        that counts it, so it is never counted twice; a job RQ ran on its own path, which
        counts and finishes in two round trips, could be if the worker died between them.)"""
        frame = batching.frame_of(job)
        camera = frame.camera_id if frame else UNKNOWN_CAMERA
        log.warning("job %s of camera %s was lost with its worker", job.id, camera)
        accounting.take_pending(self.connection, self.key_prefix, camera, job.id)
        record_failure(self.connection, self.key_prefix, camera, ABANDONED)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat, in one round trip, and at most once a second.

        RQ beats three times per job it takes (around its dequeue and after the job),
        each three commands sent one by one; the worker's key lives ``worker_ttl`` + 60 s,
        so a beat with the default timeout less than a second after the last one is
        skipped. A beat with a timeout of its own, or on a caller's pipeline, always runs.
        """
        if pipeline is not None or timeout is not None:
            super().heartbeat(timeout, pipeline)
            self._beat_at = time.monotonic()
            return
        if time.monotonic() - self._beat_at < HEARTBEAT_MIN_INTERVAL_SECONDS:
            return
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(None, own)
            own.execute()
        self._beat_at = time.monotonic()

    def execute_job(self, job: Job, queue: Queue) -> None:
        settings = installed().settings
        batch = [
            (job, queue),
            *self._take_more(settings.batch_max_frames - 1, settings.batch_max_wait),
        ]
        in_bulk: list[tuple[Job, Queue]] = []
        for each, its_queue in batch:
            if self._accepts(each) and bulk.routine(each):
                in_bulk.append((each, its_queue))
            else:  # RQ's own per-job path
                self.set_state(WorkerStatus.BUSY)
                self.perform_job(each, its_queue, self.prepare_execution(each))
        if in_bulk:
            self._execute_in_bulk(in_bulk)  # marks the worker busy as it starts the jobs
        # RQ marks the worker idle as it next listens for jobs

    def _execute_in_bulk(self, batch: list[tuple[Job, Queue]]) -> None:
        """Start the jobs together, compute their frames in one batch, perform each, then
        finish those that returned together (``worker.bulk``); each failure on its own."""
        frames = [(job, batching.frame_of(job)) for job, _ in batch]

        def take_pending(pipeline: Any) -> None:
            for job, frame in frames:
                if frame is not None:
                    accounting.take_pending(pipeline, self.key_prefix, frame.camera_id, job.id)

        executions = bulk.start(self, batch, also=take_pending)
        try:
            batching.prepare(installed(), frames)
        except Exception:  # never strand the jobs taken: each then computes its own
            log.exception("could not prepare a batch of %d jobs", len(batch))
        returned = []
        writes = self.connection.pipeline()
        with bulk.deferring_writes(writes):
            for (job, queue), execution in zip(batch, executions, strict=True):
                try:
                    value = self._perform(job)
                except BaseException:  # as RQ's perform_job: the job fails, the worker goes on
                    self._finalize_failure(job, queue, execution, sys.exc_info())
                    continue
                returned.append(bulk.Returned(job, queue, execution, value))
        bulk.finish(self, returned, writes)

    def _perform(self, job: Job) -> Any:
        """Run the job's function under its timeout, as RQ's ``perform_job`` does."""
        job.started_at = now()
        timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
        with self.death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
            return job.perform()

    def _take_more(self, wanted: int, max_wait: float) -> list[tuple[Job, Queue]]:
        """Up to ``wanted`` more waiting jobs, waiting at most ``max_wait`` seconds for them."""
        taken: list[tuple[Job, Queue]] = []
        deadline = time.monotonic() + max_wait
        while len(taken) < wanted:
            try:
                taken.extend(bulk.take_waiting(self, wanted - len(taken)))
            except redis.RedisError as exc:  # serve what was taken; the loop reconnects
                log.warning("could not take more jobs for a batch: %s", exc)
                break
            remaining = deadline - time.monotonic()
            if len(taken) >= wanted or remaining <= 0:
                break
            time.sleep(min(remaining, BATCH_POLL_SECONDS))
        return taken

    def _accepts(self, job: Job) -> bool:
        """Whether ``job`` names an allowed function and nothing else for RQ to call."""
        return _func_name(job) in ALLOWED_JOBS and not _callback_names(job) and not job.webhooks

    def perform_job(self, job: Job, queue: Any, execution: Any) -> bool:
        if self._accepts(job):
            result: bool = super().perform_job(job, queue, execution)
            return result
        func_name = _func_name(job)
        refusal = ForeignJobRefused(
            f"expected a job function among {sorted(ALLOWED_JOBS)}, got {func_name!r}: refused"
            if func_name not in ALLOWED_JOBS
            else "expected a job without callbacks or webhooks, got "
            f"callbacks {_callback_names(job)} and {len(job.webhooks)} webhooks: refused"
        )
        log.warning("job %s: %s", job.id, refusal)
        record_failure(self.connection, self.key_prefix, UNKNOWN_CAMERA, refusal.reason)
        self.handle_job_failure(
            job, queue, exc_string=f"ForeignJobRefused: {refusal}", execution=execution
        )
        return False


def _callback_names(job: Job) -> list[str]:
    """Success, failure and stopped callbacks the job names (RQ keeps them as dotted paths)."""
    names = (job._success_callback_name, job._failure_callback_name, job._stopped_callback_name)
    return [name for name in names if name]


def _func_name(job: Job) -> str:
    try:
        return str(job.func_name)
    except DeserializationError:
        return "<undecodable job data>"
