"""RQ's bookkeeping for a batch of frame jobs, in three round trips: the one module that
touches RQ below its public API.

RQ takes each job through about ten round trips of its own: take it, read it, record
its execution, mark it started, beat its heartbeat, mark it finished, store its result,
move it between registries. At 50 frames/s per core that costs a worker ~3 ms of CPU
per frame, a fifth of what classifying the frame costs. ``worker.batch`` makes the same
writes through RQ's own methods, for every job of a batch at once:

- ``take_waiting``: one pipeline moves waiting ids to the intermediate queue, as RQ's
  dequeue does, and one reads their jobs;
- ``start``: one pipeline records every execution and marks every job started, as RQ's
  ``prepare_execution`` and ``prepare_job_execution`` do;
- ``finish``: queued on the caller's MULTI (which also holds the frames' results and
  counters), every job's finished or failed state, result and registry entry, as RQ's
  ``handle_job_success`` and ``handle_job_failure`` write them.

Only plain jobs take this path: ``requests`` lists what else a job asks of RQ
(callbacks, webhooks, dependencies, repeats, a rate limit, retries), and the worker
refuses any job that asks for one, so none of RQ's machinery for them is copied here.

Tested with the RQ range pinned in ``pyproject.toml``. What this module touches below
RQ's public API, and why:

- ``Job._success_callback_name``, ``Job._failure_callback_name``,
  ``Job._stopped_callback_name``: the callbacks a job names, read without importing them
  (RQ's public ``Job.success_callback`` and the others import the named function).
- ``Job._dependency_ids``: the jobs a job depends on, as its hash names them (RQ's
  public ``Job.dependency_ids`` reads them from Redis, one round trip per job).
- The keys RQ's ``Job.delete`` removes for a finished job kept 0 s (its hash, dependents
  and dependencies sets, result stream and execution registry) are deleted by name:
  ``Job.delete`` first reads the job's status from Redis, a round trip per job.

- A job's ``status`` field, read straight from the hashes of a whole batch in one script
  (``statuses``, ``watch_started``): ``Job.get_status`` reads one job per round trip.

Everything else is public: ``Execution.create``, ``Job.prepare_for_execution``,
``Job.heartbeat``, ``Job.set_status``, ``Job.save``, ``Job.cleanup``, ``Result.create``,
``Result.create_failure``, the registries' ``add``, and the worker's
``cleanup_execution``, ``heartbeat``, ``set_state`` and ``increment_*`` methods. The one
worker method ``FerWorker`` overrides to get here is RQ's ``execute_job``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.rate_limit import release_slot
from rq.results import Result
from rq.utils import as_text, now
from rq.worker import WorkerStatus

from common.errors import brief

if TYPE_CHECKING:
    import redis
    from rq.worker import BaseWorker

    Pipeline = redis.client.Pipeline[bytes]
else:
    Pipeline = Any


@dataclass(frozen=True)
class Ended:
    """A started job whose function is done: what it returned, or why it failed."""

    job: Job
    execution: Execution
    value: Any = None  # what the job returns (kept in RQ's result for its result TTL)
    failure: str | None = None  # the failure's text (RQ's exc_string); None: it finished


def requests(job: Job) -> list[str]:
    """What ``job`` asks of RQ besides calling its function, in words; empty for a plain job.

    Read from the job as loaded: nothing it names is imported, nothing is read from Redis.
    """
    callbacks = [
        name
        for name in (
            job._success_callback_name,
            job._failure_callback_name,
            job._stopped_callback_name,
        )
        if name
    ]
    asked = {  # what the hash names, briefly: a hostile one may name megabytes
        f"callbacks {brief(callbacks)}": bool(callbacks),
        f"{len(job.webhooks)} webhooks": bool(job.webhooks),
        f"dependencies {brief(job._dependency_ids)}": bool(job._dependency_ids),
        f"{job.repeats_left} repeats": job.repeats_left is not None,
        f"rate limit {brief(job.rate_limit_key)}": job.has_rate_limit,
        f"{job.retries_left} retries": bool(job.retries_left),
    }
    return [words for words, present in asked.items() if present]


# Each key's "status" field, in one round trip (a pipeline under WATCH sends its commands
# one at a time until MULTI)
_STATUSES = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, 'status') or false end
return out
"""


def statuses(jobs: Sequence[Job], client: redis.Redis[bytes] | Pipeline) -> list[str | None]:
    """Each job's status as its hash says now (None: the hash is gone), in one round trip;
    on a pipeline under WATCH too, which otherwise sends commands one at a time."""
    if not jobs:
        return []
    keys = [job.key for job in jobs]
    found = client.execute_command("EVAL", _STATUSES, len(keys), *keys)
    return [as_text(status) if status else None for status in found]


def watch_started(jobs: Sequence[Job], pipeline: Pipeline) -> list[bool]:
    """WATCH every job's hash on ``pipeline`` and say which jobs are started now.

    The caller's MULTI then fails with ``WatchError`` if any of them changes first.
    """
    if not jobs:
        return []
    pipeline.watch(*(job.key for job in jobs))
    return [status == JobStatus.STARTED.value for status in statuses(jobs, pipeline)]


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
    jobs: Sequence[tuple[Job, Queue]],
    also: Callable[[Pipeline], None],
) -> list[Execution]:
    """Record an execution for each job and mark it started, in one round trip.

    ``also`` adds the caller's own writes to the same pipeline.
    """
    executions = []
    ttls = [worker.get_heartbeat_ttl(job) for job, _ in jobs]
    with worker.connection.pipeline() as pipeline:
        for (job, queue), ttl in zip(jobs, ttls, strict=True):
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=worker.name)
            worker.executions[execution.id] = execution
            job.heartbeat(now(), ttl, pipeline=pipeline)
            job.prepare_for_execution(worker.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if len(worker.queues) == 1:  # as RQ: with several queues its sweep removes the id
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            executions.append(execution)
        # the worker's own registration lives as long as an idle beat keeps it, so a stall
        # longer than the jobs' short TTL (a paused Redis's clock jumps) cannot expire it
        worker.heartbeat(max(*ttls, worker.worker_ttl + 60), pipeline)
        worker.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        also(pipeline)
        pipeline.execute()
    return executions


def finish(worker: BaseWorker, ended: Sequence[Ended], pipeline: Pipeline) -> None:
    """Queue each ended job's finished or failed state on ``pipeline`` (the caller
    executes it). The worker's job counts and working time grow once for the batch."""
    working = timedelta(0)
    for each in ended:
        job = each.job
        job.ended_at = now()
        working += job.ended_at - (job.started_at or job.ended_at)
        if each.failure is None:
            _mark_finished(worker, job, each.execution, each.value, pipeline)
        else:
            _mark_failed(worker, job, each.execution, each.failure, pipeline)
    failures = sum(each.failure is not None for each in ended)
    if len(ended) > failures:
        pipeline.hincrby(worker.key, "successful_job_count", len(ended) - failures)
    if failures:
        pipeline.hincrby(worker.key, "failed_job_count", failures)
    if ended:
        worker.increment_total_working_time(working, pipeline)


def release_slots(ended: Sequence[Ended]) -> None:
    """Give back the rate-limit slot of each ended job that held one (only refused jobs
    can), once their failures are written, as RQ's failure handling does."""
    for each in ended:
        if each.job.has_rate_limit:
            release_slot(each.job)


def _mark_finished(
    worker: BaseWorker, job: Job, execution: Execution, value: Any, pipeline: Pipeline
) -> None:
    """What RQ's ``handle_job_success`` writes for a job with no repeats or dependents."""
    result_ttl = job.get_result_ttl(worker.default_result_ttl)
    if result_ttl == 0:  # nothing of it is kept: its hash and records go at once
        worker.cleanup_execution(job, pipeline=pipeline, execution=execution)
        _delete_kept_nothing(job, pipeline)
        return
    job.heartbeat(_ended_at(job), job.success_callback_timeout, pipeline=pipeline)
    job.set_status(JobStatus.FINISHED, pipeline=pipeline)
    job.save(pipeline=pipeline, include_meta=False, include_result=False)
    Result.create(
        job,
        Result.Type.SUCCESSFUL,
        result_ttl,
        return_value=value,
        worker_name=worker.name,
        pipeline=pipeline,
        **_execution_times(job, execution),
    )
    job.finished_job_registry.add(job, result_ttl, pipeline)
    job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
    worker.cleanup_execution(job, pipeline=pipeline, execution=execution)


def _mark_failed(
    worker: BaseWorker, job: Job, execution: Execution, exc_string: str, pipeline: Pipeline
) -> None:
    """What RQ's ``handle_job_failure`` writes for a job with no retries or dependents."""
    job.heartbeat(_ended_at(job), job.failure_callback_timeout, pipeline=pipeline)
    job.set_status(JobStatus.FAILED, pipeline=pipeline)
    worker.cleanup_execution(job, pipeline=pipeline, execution=execution)
    job.failed_job_registry.add(job, ttl=job.failure_ttl, exc_string=exc_string, pipeline=pipeline)
    Result.create_failure(
        job,
        job.failure_ttl,
        exc_string=exc_string,
        worker_name=worker.name,
        pipeline=pipeline,
        **_execution_times(job, execution),
    )


def _delete_kept_nothing(job: Job, pipeline: Pipeline) -> None:
    """The keys RQ's ``Job.delete`` removes of a finished job, without its reads."""
    result = Result.get_key(job.id)  # type: ignore[no-untyped-call]
    pipeline.delete(
        job.key, job.dependents_key, job.dependencies_key, result, job.execution_registry.key
    )


def _ended_at(job: Job) -> datetime:
    return job.ended_at or now()


def _execution_times(job: Job, execution: Execution) -> dict[str, Any]:
    return {
        "execution_id": execution.id,
        "execution_started_at": execution.created_at,
        "execution_ended_at": job.ended_at,
    }
