"""The RQ worker class: no fork per job, micro-batches, only the project's own jobs run."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from rq import SimpleWorker
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.queue import Queue

from common import accounting
from common.defaults import DEFAULT_WORKER_RECONNECT_BACKOFF_SECONDS
from common.metrics import WorkerMetrics
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from worker import aggregation, batch, reaping, redaction
from worker.pipeline import FramePipeline

log = logging.getLogger(__name__)

T = TypeVar("T")
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)

HEARTBEAT_MIN_INTERVAL_SECONDS = 1.0
# RQ's words when it fails a job that a worker took from the queue and never started
STUCK_IN_INTERMEDIATE_QUEUE = "Job was stuck in intermediate queue"
ABANDONED = "abandoned"


class FerWorker(SimpleWorker):
    """A ``SimpleWorker`` (the model stays loaded in this process) that serves batches.

    Built with everything it needs: the ``settings`` (batching, frame age, key prefix,
    results stream, registry sweep interval), the loaded ``pipeline`` and the ``metrics``
    it records into; other keywords go to RQ's worker (``connection``, ``name``, ...).

    Given a job by RQ, it serves it and the jobs waiting behind it as one batch
    (``worker.batch``; a lone frame is a batch of one), by overriding RQ's
    ``execute_job``. It stays busy for the whole batch, so a warm shutdown finishes the
    jobs it took. A job naming any function but ``process_frame``, or asking RQ for
    callbacks, webhooks, dependencies, repeats, a rate limit or retries, is failed
    before anything it names is imported or its arguments are read, and counted as
    ``failed:foreign_job``.

    Frames a dead worker held are settled too, when a live worker's registry sweep finds
    them: RQ fails a started job whose worker stopped beating as abandoned, and a job
    taken but never started as stuck; each counts as ``failed:abandoned`` for its camera,
    so submitted = processed + dropped + failed + pending still holds after a crash.

    It rides through Redis outages: where RQ's loop would quit on a lost connection, it
    waits for Redis with capped backoff (``wait_for_redis``) and goes on; a batch in hand
    is started or settled once Redis answers, for the jobs the server still knows.
    """

    job_class = FrameJob  # frame data saved raw, as producers enqueue it
    # RQ's own wait for Redis while it dequeues (1 s, doubling): capped as ours
    max_connection_wait_time = DEFAULT_WORKER_RECONNECT_BACKOFF_SECONDS[1]

    def __init__(
        self,
        queues: Sequence[Queue],
        *,
        settings: Settings,
        pipeline: FramePipeline,
        metrics: WorkerMetrics,
        **options: Any,
    ) -> None:
        options.setdefault("serializer", MsgpackSerializer)
        options.setdefault("maintenance_interval", settings.registry_sweep_seconds)
        options.setdefault("worker_ttl", settings.worker_ttl_seconds)
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.heartbeat_sent_at = -math.inf  # time.monotonic() of the last heartbeat sent
        self.stopping = False  # a stop was requested (SIGINT/SIGTERM)
        super().__init__(list(queues), **options)
        self.push_exc_handler(functools.partial(settle_if_abandoned, self))  # type: ignore[no-untyped-call]

    def execute_job(self, job: Job, queue: Queue) -> None:
        """RQ's extension point for running a dequeued job: here, a whole batch."""
        batch.serve(self, job, queue)
        # RQ marks the worker idle as it next listens for jobs

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long a started job's execution lives without a beat: after that, a sweep
        settles it as abandoned (``abandon_after_seconds``; RQ's own is 90 s)."""
        return self.settings.abandon_after_seconds

    def request_stop(self, signum: Any, frame: Any) -> None:
        """RQ's signal handler for a warm stop; also ends a wait for Redis."""
        self.stopping = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's state write; RQ makes the one that opens each dequeue (``idle``) outside
        its own guard, so a Redis lost between two batches would end the worker. Here
        it waits for Redis and writes the state once it answers."""
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        while True:
            try:
                super().set_state(state)
                return
            except REDIS_DOWN as exc:
                if not self.wait_for_redis(exc):
                    return

    def register_death(self) -> None:
        """RQ's last words as the worker stops; if Redis is down then, a warning (the
        pool, or a live worker's sweep, settles what the registration leaves)."""
        try:
            super().register_death()  # type: ignore[no-untyped-call]
        except REDIS_DOWN as exc:
            log.warning("worker %s could not register its death: %s", self.name, exc)

    def check_for_suspension(self, burst: bool) -> None:
        self.riding_outages(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self.riding_outages(super().run_maintenance_tasks)
        self.riding_outages(self._settle_expired)
        if self.settings.aggregating:  # windows of cameras that went quiet
            self.riding_outages(self._close_quiet_windows)

    def _settle_expired(self) -> None:
        """Frames whose job expired while pending (a dead worker had taken them): counted
        ``dropped:expired`` (``worker.reaping.settle_expired``); a refusal is logged."""
        try:
            reaping.settle_expired(self.connection, self.settings)
        except redis.ResponseError as exc:
            log.warning("worker %s could not settle expired frames: %s", self.name, exc)

    def _close_quiet_windows(self) -> None:
        """Close the due aggregate windows of every camera; a refusal (an ACL user without
        the windows' keys) is logged, never fatal: the next settle of a camera closes its."""
        try:
            aggregation.close_all_due(self.connection, self.settings)
        except redis.ResponseError as exc:
            log.warning("worker %s could not close quiet windows: %s", self.name, exc)

    def riding_outages(self, step: Callable[..., T], *args: Any) -> T | None:
        """``step(*args)``; if Redis is unreachable, wait until it answers and skip it."""
        try:
            return step(*args)
        except REDIS_DOWN as exc:
            self.wait_for_redis(exc)
            return None

    def wait_for_redis(self, error: BaseException) -> bool:
        """Block until Redis answers PING, with capped exponential backoff; False if a
        stop was requested first. A registration the server lost is made again."""
        first, cap = DEFAULT_WORKER_RECONNECT_BACKOFF_SECONDS
        delay, started = first, time.monotonic()
        log.warning("worker %s lost Redis (%s): waiting for it", self.name, type(error).__name__)
        while not self.stopping:
            try:
                self.connection.ping()
            except REDIS_DOWN:
                time.sleep(delay)
                delay = min(cap, delay * 2)
                continue
            self._register_again()
            log.warning(
                "worker %s: Redis is back after %.1fs", self.name, time.monotonic() - started
            )
            return True
        return False

    def _register_again(self) -> None:
        """After a restart that lost the server's memory, register the worker anew."""
        try:
            if not self.connection.hexists(self.key, "birth"):  # gone, or only a beat's field
                self.connection.delete(self.key)
                self.register_birth()  # type: ignore[no-untyped-call]
        except (*REDIS_DOWN, ValueError) as exc:
            log.warning("worker %s could not register again: %s", self.name, exc)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat, in one round trip, and at most once a second.

        RQ beats three times per job it takes (around its dequeue and after the job),
        each three commands sent one by one; the worker's key lives ``worker_ttl`` + 60 s,
        so a beat with the default timeout less than a second after the last one is
        skipped. A beat with a timeout of its own, or on a caller's pipeline, always runs.
        """
        if pipeline is not None or timeout is not None:
            super().heartbeat(timeout, pipeline)
            self.heartbeat_sent_at = time.monotonic()
            return
        if time.monotonic() - self.heartbeat_sent_at < HEARTBEAT_MIN_INTERVAL_SECONDS:
            return
        self.riding_outages(self._beat)

    def _beat(self) -> None:
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(None, own)
            own.execute()
        self.heartbeat_sent_at = time.monotonic()

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Any = None,
    ) -> None:
        """RQ's failure handling; a frame its sweep found stuck is also counted as lost
        (and, under strict privacy, saved by RQ without its pixels)."""
        if exc_string.startswith(STUCK_IN_INTERMEDIATE_QUEUE):
            settle_lost(self, job)
            if self.settings.strict:
                redaction.strip(job, batch.frame_of(job))
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)


def settle_if_abandoned(worker: FerWorker, job: Job, exc_type: Any, *rest: Any) -> bool:
    """RQ calls this for failed jobs; only abandoned ones are not counted already."""
    if exc_type is AbandonedJobError:
        settle_lost(worker, job)
    return True  # the other handlers run as well


def settle_lost(worker: FerWorker, job: Job) -> None:
    """Count a frame whose worker died with it. (A frame job finishes in the same MULTI
    that counts it, so it is never counted twice.)"""
    camera, prefix = batch.camera_of(job), worker.settings.key_prefix
    log.warning("job %s of camera %s was lost with its worker", job.id, camera)
    with worker.connection.pipeline(transaction=False) as pipeline:
        accounting.take_pending(pipeline, prefix, camera, job.id)
        accounting.count(pipeline, prefix, camera, accounting.failed(ABANDONED))
        pipeline.execute()
    worker.metrics.record_failed(camera, ABANDONED)
