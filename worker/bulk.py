"""RQ's job bookkeeping for a whole batch of frame jobs, in a few Redis round trips.

RQ takes each job through about ten round trips of its own: take it, read it, record
its execution, mark it started, beat its heartbeat, mark it finished, store its result,
move it between registries. At 50 frames/s per core that costs a worker ~3 ms of CPU
per frame, a fifth of what classifying the frame costs. For a batch, ``FerWorker``
makes the same writes through RQ's own methods, but for every job at once:

- ``take_waiting``: one pipeline moves waiting ids to the intermediate queue, as RQ's
  dequeue does, and one reads their jobs;
- ``start``: one pipeline records every execution and marks every job started, as
  RQ's ``prepare_execution`` and ``prepare_job_execution`` do;
- ``finish``: one MULTI marks every job that returned finished and stores its result
  (or deletes the job, if its ``result_ttl`` is 0), as RQ's ``handle_job_success``
  does, together with the job function's own writes (``deferred_writes``: the result
  stream, the counters). A frame's result and its job's outcome land together or not
  at all.

Only ``routine`` jobs take this path; a job with a rate limit or repeats, and every job
that raises, goes through RQ's own per-job handling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.results import Result
from rq.utils import as_text, now
from rq.worker import WorkerStatus

if TYPE_CHECKING:
    import redis
    from rq.worker import BaseWorker

    Pipeline = redis.client.Pipeline[bytes]
else:
    Pipeline = Any


@dataclass(frozen=True)
class Returned:
    """A job of the batch that returned: what ``finish`` needs to settle it."""

    job: Job
    queue: Queue
    execution: Execution
    value: Any


# how long a finished, deleted job's dependents set outlives a worker that died before
# enqueueing them
DEPENDENTS_GRACE_SECONDS = 600

_deferred: Pipeline | None = None


def deferred_writes() -> Pipeline | None:
    """The pipeline a job started in bulk queues its own Redis writes on, else None.

    Its frame's pending entry was taken when the batch started; the pipeline executes
    with the batch's ``finish``.
    """
    return _deferred


@contextmanager
def deferring_writes(pipeline: Pipeline) -> Iterator[None]:
    """Jobs performed inside this block queue their writes on ``pipeline``."""
    global _deferred
    _deferred = pipeline
    try:
        yield
    finally:
        _deferred = None


def routine(job: Job) -> bool:
    """Whether finishing ``job`` needs nothing of RQ but its standard bookkeeping."""
    return not job.has_rate_limit and job.repeats_left is None


def take_waiting(worker: BaseWorker, wanted: int) -> list[tuple[Job, Queue]]:
    """Up to ``wanted`` waiting jobs from ``worker``'s queues, in order, without blocking.

    A job whose hash is gone (expired while it waited) is skipped, as RQ skips it.
    """
    taken: list[tuple[Job, Queue]] = []
    for queue in worker.queues:
        if len(taken) >= wanted:
            break
        with worker.connection.pipeline(transaction=False) as pipeline:
            for _ in range(wanted - len(taken)):
                pipeline.lmove(queue.key, queue.intermediate_queue_key)
            ids = [as_text(found) for found in pipeline.execute() if found is not None]
        if ids:
            jobs = worker.job_class.fetch_many(
                ids, connection=worker.connection, serializer=worker.serializer
            )
            taken.extend((job, queue) for job in jobs if job is not None)
    return taken


def start(
    worker: BaseWorker,
    batch: Sequence[tuple[Job, Queue]],
    also: Callable[[Pipeline], None],
) -> list[Execution]:
    """Record an execution for each job and mark it started, in one round trip.

    ``also`` adds the caller's own writes to the same pipeline.
    """
    executions = []
    ttls = [worker.get_heartbeat_ttl(job) for job, _ in batch]
    with worker.connection.pipeline() as pipeline:
        for (job, queue), ttl in zip(batch, ttls, strict=True):
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=worker.name)
            worker.executions[execution.id] = execution
            job.heartbeat(now(), ttl, pipeline=pipeline)
            job.prepare_for_execution(worker.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if len(worker.queues) == 1:  # as RQ: with several queues its sweep removes the id
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            executions.append(execution)
        worker.heartbeat(max(ttls), pipeline)
        worker.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        also(pipeline)
        pipeline.execute()
    return executions


def finish(worker: BaseWorker, returned: Sequence[Returned], pipeline: Pipeline) -> None:
    """Mark every returned job finished, on ``pipeline``, and execute it.

    ``pipeline`` already holds the jobs' own writes. A job kept after it finishes
    (``result_ttl`` > 0) gets its result stored and an expiry, as RQ does; one with
    ``result_ttl`` 0 is deleted with everything RQ keeps for it. The worker's job count
    and working time grow once for the batch. Dependents of a job (other jobs enqueued
    to run after it) are enqueued afterwards, as RQ does.
    """
    dependents_at: dict[int, tuple[Returned, int]] = {}  # reply index: job, its result TTL
    working = timedelta(0)
    for each in returned:
        job = each.job
        job.ended_at = now()
        job._result = each.value
        job._status = JobStatus.FINISHED
        working += job.ended_at - (job.started_at or job.ended_at)
        result_ttl = job.get_result_ttl(worker.default_result_ttl)
        if result_ttl != 0:
            job.heartbeat(job.ended_at, job.success_callback_timeout, pipeline=pipeline)
            job._handle_success(
                result_ttl,
                pipeline=pipeline,
                worker_name=worker.name,
                execution_id=each.execution.id,
                execution_started_at=each.execution.created_at,
                execution_ended_at=job.ended_at,
            )
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
        worker.cleanup_execution(job, pipeline=pipeline, execution=each.execution)
        dependents_at[len(pipeline)] = (each, result_ttl)
        pipeline.smembers(job.dependents_key)
        if result_ttl == 0:
            _delete_finished(job, pipeline)
    if returned:
        pipeline.hincrby(worker.key, "successful_job_count", len(returned))
        worker.increment_total_working_time(working, pipeline)
    replies = pipeline.execute()
    for index, (each, result_ttl) in dependents_at.items():
        if replies[index]:
            # the job's status is FINISHED here, whether or not its hash is still there
            each.queue.enqueue_dependents(each.job, refresh_job_status=False)
            if result_ttl == 0:
                worker.connection.delete(each.job.dependents_key)


def _delete_finished(job: Job, pipeline: Pipeline) -> None:
    """What RQ's ``Job.delete`` removes of a job started in bulk and finished (its one
    execution is cleaned up already), without its reads: the job's hash, dependency
    set, result stream and execution registry. Its dependents set stays until they
    are enqueued, and expires if the worker dies first."""
    result = Result.get_key(job.id)  # type: ignore[no-untyped-call]
    pipeline.delete(job.key, job.dependencies_key, result, job.execution_registry.key)
    pipeline.expire(job.dependents_key, DEPENDENTS_GRACE_SECONDS)
