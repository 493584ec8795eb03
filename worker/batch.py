"""The worker's unit of work, a ``FrameBatch``: from the queue to published results.

A batch of frame jobs goes through four steps, each a plain function below:

1. ``take``: the job RQ dequeued, and up to ``batch_max_frames - 1`` more waiting
   behind it (taken without blocking, waiting at most ``batch_max_wait`` for them).
   Each job's frame is decoded, or the job gets the error that fails it: a function
   other than ``process_frame``, a job that asks RQ for more than calling it
   (callbacks, webhooks, dependencies, repeats, a rate limit, retries), a frame that
   does not match the wire schema.
2. ``start``: every job marked started in RQ, and its frame taken off its camera's
   pending list, in one round trip.
3. ``compute``: every member gets its ``Outcome``. A frame older than
   ``max_frame_age`` is dropped; the other frames go through the pipeline together,
   their faces classified in one model call. A bad frame fails alone; a frame that
   breaks the pipeline itself fails alone too (the batch is retried one frame at a time).
   A batch that runs past the shortest timeout of its jobs, or past
   ``abandon_after_seconds`` less a margin, is cut short: its frames without an outcome
   fail as ``timeout``, and the worker goes on.
4. ``settle``: every frame's result and counters, and every job's finished or failed
   state in RQ, in one MULTI: a frame's result, its counters and its job's outcome land
   together or not at all.

``serve`` runs the four steps for ``FerWorker``. A lone frame is a batch of one on the
same path. ``serve_alone`` is the same path for a frame job that RQ's own worker runs
(``worker.jobs.process_frame``): RQ starts and finishes the job, so ``start`` and
``settle`` only write the frame's own keys.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis
from rq.exceptions import DeserializationError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.timeouts import JobTimeoutException

from common import accounting
from common.accounting import UNKNOWN_CAMERA
from common.errors import FerStreamError, ForeignJobRefused, SchemaError, brief, describe
from common.hints import Hint, read_hints
from common.metrics import WorkerMetrics
from common.rqjob import PROCESS_FRAME, FrameJob
from common.settings import Settings
from common.wire import Frame, Result
from worker import aggregation, bookkeeping, redaction
from worker.outcome import Dropped, Failed, Outcome, Processed, record_outcome, write_outcome
from worker.pipeline import FramePipeline

if TYPE_CHECKING:
    from worker.rqworker import FerWorker

log = logging.getLogger(__name__)

ALLOWED_JOBS = frozenset({PROCESS_FRAME})
BATCH_POLL_SECONDS = 0.002  # between looks at an empty queue while batch_max_wait runs
TIMED_OUT = "timeout"  # the counted reason of frames whose batch ran past its time limit
# A batch ends this long before its frames would count as abandoned (abandon_after_seconds)
BATCH_TIME_MARGIN_SECONDS = 2
STARTABLE = frozenset({JobStatus.QUEUED.value, JobStatus.STARTED.value})
INTERNAL = "internal"  # the counted reason of a frame that broke the pipeline itself
STALE = "stale"  # the counted reason of a frame older than max_frame_age when reached
UNDECODABLE = "<undecodable job data>"  # a job's function, when RQ cannot read its data


@dataclass
class Member:
    """One job of a batch: the job, its queue, its execution, its frame and its outcome."""

    job: Job
    queue: Queue
    frame: Frame | FerStreamError  # decoded when taken, or why the job cannot run
    execution: Execution | None = None  # RQ's record of this run, from ``start``
    outcome: Outcome | None = None  # from ``compute``

    @property
    def camera_id(self) -> str:
        return self.frame.camera_id if isinstance(self.frame, Frame) else UNKNOWN_CAMERA


@dataclass
class FrameBatch:
    """Frame jobs served together, in queue order."""

    members: list[Member]
    reached_at: float = field(default_factory=time.time)  # frames' ages are judged here


def serve(worker: FerWorker, job: Job, queue: Queue) -> None:
    """``job`` (dequeued by RQ from ``queue``) and the jobs waiting behind it, as a batch.

    If Redis goes away while the batch starts or settles, the worker waits for it and
    tries again with the jobs the server still holds in the state that step expects
    (after a restart that lost its memory, none: nothing of them is counted anywhere).
    """
    batch = take(worker, job, queue)
    connection, settings = worker.connection, worker.settings
    if not _through_outages(
        worker, batch, STARTABLE, lambda: start(batch, connection, settings, worker)
    ):
        return
    try:
        with _time_limit(worker, batch):
            hints = _hints(batch, worker.pipeline, connection, settings)
            compute(batch, worker.pipeline, worker.settings, worker.metrics, hints)
    except JobTimeoutException as exc:
        log.error("a batch of %d frames ran past its time limit: %s", len(batch.members), exc)
        fail_uncomputed(batch, TIMED_OUT, exc)
    _through_outages(
        worker,
        batch,
        None,
        lambda: settle(batch, connection, settings, worker.metrics, worker),
    )


def _through_outages(
    worker: FerWorker,
    batch: FrameBatch,
    expected: frozenset[str] | None,
    step: Callable[[], None],
) -> bool:
    """Run ``step``; while Redis is unreachable, wait for it, keep the members whose job
    is still in an ``expected`` state (None: ``step`` checks itself), and run it again;
    again too if a job it watched changed under it. False if nothing is left to do."""
    while True:
        try:
            step()
            return True
        except redis.WatchError:
            continue  # a sweep touched one of the jobs: read their states again
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("a batch of %d frames lost Redis: %s", len(batch.members), exc)
            if not worker.wait_for_redis(exc):
                return False  # stopping: a sweep settles its started jobs as abandoned
            if expected is not None:
                batch.members = _still_known(batch.members, worker.connection, expected)
            if not batch.members:
                return False


def _still_known(
    members: list[Member], connection: redis.Redis[bytes], expected: frozenset[str]
) -> list[Member]:
    """The members whose job the server holds with a status among ``expected``."""
    now = bookkeeping.statuses([member.job for member in members], connection)
    kept = [member for member, status in zip(members, now, strict=True) if status in expected]
    if len(kept) < len(members):
        log.warning("%d of the batch's jobs are gone from Redis", len(members) - len(kept))
    return kept


def serve_alone(
    job: Job,
    frame_bytes: bytes,
    pipeline: FramePipeline,
    settings: Settings,
    metrics: WorkerMetrics,
) -> dict[str, Any]:
    """A frame job run by RQ's own worker, as a batch of one: what it returns, or the
    error that fails it (raised, for RQ to record)."""
    queue = Queue(job.origin, connection=job.connection, serializer=job.serializer)
    batch = FrameBatch([Member(job, queue, _decoded(frame_bytes))])
    start(batch, job.connection, settings, None)
    compute(batch, pipeline, settings, metrics)
    settle(batch, job.connection, settings, metrics, None)
    outcome = _outcome(batch.members[0])
    if isinstance(outcome, Failed):
        raise outcome.error
    return outcome.returned()


# -- 1. take ---------------------------------------------------------------------------


def take(worker: FerWorker, job: Job, queue: Queue) -> FrameBatch:
    """``job`` and up to ``batch_max_frames - 1`` more jobs waiting on ``worker``'s queues."""
    settings = worker.settings
    more = _take_more(worker, settings.batch_max_frames - 1, settings.batch_max_wait)
    return FrameBatch([_member(each, its) for each, its in [(job, queue), *more]])


def _member(job: Job, queue: Queue) -> Member:
    job.origin = queue.name  # its registries are its queue's, whatever its hash says
    return Member(job, queue, frame_of(job))


def _take_more(worker: FerWorker, wanted: int, max_wait: float) -> list[tuple[Job, Queue]]:
    """Up to ``wanted`` more waiting jobs, waiting at most ``max_wait`` seconds for them."""
    taken: list[tuple[Job, Queue]] = []
    deadline = time.monotonic() + max_wait
    while len(taken) < wanted:
        try:
            taken.extend(bookkeeping.take_waiting(worker, wanted - len(taken)))
        except redis.RedisError as exc:  # serve what was taken; RQ's loop reconnects
            log.warning("could not take more jobs for a batch: %s", exc)
            break
        remaining = deadline - time.monotonic()
        if len(taken) >= wanted or remaining <= 0:
            break
        time.sleep(min(remaining, BATCH_POLL_SECONDS))
    return taken


def frame_of(job: Job) -> Frame | FerStreamError:
    """The wire ``Frame`` a job carries, or the error that fails the job.

    A job whose hash RQ could not read (``FrameJob.refusal``), naming any function
    outside ``ALLOWED_JOBS``, or asking RQ for anything but calling it, is refused before
    anything it names is imported or its arguments read. Whatever the job data holds
    (any msgpack value in any place), the answer is a frame or an error.
    """
    if isinstance(job, FrameJob) and job.refusal is not None:
        return job.refusal
    try:
        func_name: object = job.func_name
    except DeserializationError:
        func_name = UNDECODABLE
    if not isinstance(func_name, str) or func_name not in ALLOWED_JOBS:
        return ForeignJobRefused(
            f"expected a job function among {sorted(ALLOWED_JOBS)}, got {brief(func_name)}: refused"
        )
    requests = bookkeeping.requests(job)
    if requests:
        return ForeignJobRefused(
            "expected a job without callbacks, webhooks, dependencies, repeats, rate limit "
            f"or retries, got {', '.join(requests)}: refused"
        )
    args, kwargs = job.args, job.kwargs
    if not isinstance(args, list | tuple) or len(args) != 1 or kwargs:
        return SchemaError(
            "expected one argument, the frame's bytes, and no keywords, got arguments "
            f"{describe(args)} and keywords {describe(kwargs)}"
        )
    return _decoded(args[0])


def camera_of(job: Job) -> str:
    """The camera whose frame ``job`` carries (or carried, before strict privacy took its
    pixels off: ``worker.redaction``), else ``UNKNOWN_CAMERA``."""
    frame = frame_of(job)
    if isinstance(frame, Frame):
        return frame.camera_id
    return redaction.noted_camera(job) or UNKNOWN_CAMERA


def _decoded(payload: object) -> Frame | FerStreamError:
    if not isinstance(payload, bytes):
        return SchemaError(f"expected the frame's bytes, got {type(payload).__name__}")
    try:
        return Frame.decode(payload)
    except SchemaError as exc:
        return exc


# -- 2. start --------------------------------------------------------------------------


def start(
    batch: FrameBatch,
    connection: redis.Redis[bytes],
    settings: Settings,
    worker: FerWorker | None,
) -> None:
    """Take every frame off its camera's pending list and, given the ``worker`` that
    serves the batch, mark every job started in RQ: one round trip. Under strict
    privacy every job's pixels leave Redis in it too: the worker holds the frames."""

    def take_pending(pipeline: redis.client.Pipeline[bytes]) -> None:
        for member in batch.members:
            is_frame = isinstance(member.frame, Frame)
            if is_frame:
                prefix = settings.key_prefix
                accounting.take_pending(pipeline, prefix, member.camera_id, member.job.id)
            if settings.strict:
                redaction.redact(member.job, member.frame, member.camera_id, pipeline)

    if worker is None:  # RQ's own worker started the job
        with connection.pipeline(transaction=False) as pipeline:
            take_pending(pipeline)
            pipeline.execute()
        return
    started = [(member.job, member.queue) for member in batch.members]
    executions = bookkeeping.start(worker, started, also=take_pending)
    for member, execution in zip(batch.members, executions, strict=True):
        member.execution = execution


# -- 3. compute ------------------------------------------------------------------------


def _hints(
    batch: FrameBatch, pipeline: FramePipeline, connection: redis.Redis[bytes], settings: Settings
) -> dict[str, Hint]:
    """The batch's cameras' track hints (one round trip), when detection follows tracks."""
    if pipeline.guidance is None:
        return {}
    cameras = [m.frame.camera_id for m in batch.members if isinstance(m.frame, Frame)]
    return read_hints(connection, settings.key_prefix, cameras)


def compute(
    batch: FrameBatch,
    pipeline: FramePipeline,
    settings: Settings,
    metrics: WorkerMetrics,
    hints: Mapping[str, Hint] | None = None,
) -> None:
    """Give every member its outcome; the fresh frames go through ``pipeline`` together
    (their detection guided by ``hints``, the cameras' last track boxes, if any)."""
    fresh: list[tuple[Member, Frame]] = []
    for member in batch.members:
        frame = member.frame
        if isinstance(frame, FerStreamError):
            member.outcome = Failed(member.camera_id, frame.reason, frame)
        elif batch.reached_at - frame.captured_at > settings.max_frame_age:
            member.outcome = Dropped(frame.camera_id, STALE, batch.reached_at - frame.captured_at)
        else:
            fresh.append((member, frame))
    if not fresh:
        return
    waits = [batch.reached_at - _enqueued_at(member.job, frame) for member, frame in fresh]
    computed = _process(pipeline, [frame for _, frame in fresh], waits, metrics, hints or {})
    for (member, frame), result in zip(fresh, computed, strict=True):
        member.outcome = _outcome_of(frame, result)


def fail_uncomputed(batch: FrameBatch, reason: str, error: BaseException) -> None:
    """Fail every member still without an outcome (its compute was cut short)."""
    for member in batch.members:
        if member.outcome is None:
            member.outcome = Failed(member.camera_id, reason, error)


def _process(
    pipeline: FramePipeline,
    frames: Sequence[Frame],
    waits: Sequence[float],
    metrics: WorkerMetrics,
    hints: Mapping[str, Hint],
) -> list[Result | BaseException]:
    """Each frame's result or error; if the batch breaks the pipeline, one frame at a time."""
    try:
        results: list[Result | BaseException] = list(pipeline.process_many(frames, waits, hints))
    except JobTimeoutException:  # the batch's time is up: no retry one by one
        raise
    except Exception as exc:
        if len(frames) == 1:
            log.exception("a frame failed the pipeline")
            return [exc]
        log.exception("a batch of %d frames failed: serving them one by one", len(frames))
        alone = zip(frames, waits, strict=True)
        return [_process(pipeline, [frame], [wait], metrics, {})[0] for frame, wait in alone]
    metrics.record_batch(len(frames))
    return results


def _outcome_of(frame: Frame, result: Result | BaseException) -> Outcome:
    if isinstance(result, Result):
        return Processed(result)
    reason = result.reason if isinstance(result, FerStreamError) else INTERNAL
    return Failed(frame.camera_id, reason, result)


def _enqueued_at(job: Job, frame: Frame) -> float:
    """Unix seconds the job was enqueued (RQ's UTC timestamp), else the frame's capture."""
    moment: datetime | None = job.enqueued_at
    if moment is None:
        return frame.captured_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# -- 4. settle -------------------------------------------------------------------------


def settle(
    batch: FrameBatch,
    connection: redis.Redis[bytes],
    settings: Settings,
    metrics: WorkerMetrics,
    worker: FerWorker | None,
) -> None:
    """Write every member's result and counters and, given the ``worker`` that started
    the jobs, their finished or failed state in RQ: one MULTI.

    Given the ``worker``, only the members whose job is still started are settled, read
    under WATCH: a job a registry sweep failed as abandoned meanwhile, or one a restarted
    server forgot, is left alone, so no frame is counted twice or without its
    ``submitted``.
    """
    with connection.pipeline() as writes:
        if worker is not None:
            batch.members = _still_started(batch.members, writes)
        outcomes = [_outcome(member) for member in batch.members]
        ended = [] if worker is None else [_ended(member) for member in batch.members]
        writing = time.perf_counter()
        writes.multi()
        for each in outcomes:
            write_outcome(writes, each, settings)
        closing = _close_windows(writes, settings, outcomes)
        if worker is not None:
            bookkeeping.finish(worker, ended, writes)
        _raise_unless_closing(writes.execute(raise_on_error=False), closing)
    bookkeeping.release_slots(ended)
    written, published_at = time.perf_counter() - writing, time.time()
    for member, each in zip(batch.members, outcomes, strict=True):
        record_outcome(metrics, each, written, published_at, not settings.aggregating)
        if worker is not None and isinstance(each, Failed):
            _report_failure(worker, member.job, each)


def _close_windows(
    writes: redis.client.Pipeline[bytes], settings: Settings, outcomes: list[Outcome]
) -> range:
    """In results mode aggregate, queue the close of the windows the batch's cameras may
    have made due; where their replies will be."""
    first = len(writes.command_stack)
    if settings.aggregating:
        for camera in sorted({o.camera_id for o in outcomes if isinstance(o, Processed)}):
            aggregation.close_due(writes, settings, camera)
    return range(first, len(writes.command_stack))


def _raise_unless_closing(replies: list[Any], closing: range) -> None:
    """Raise the settle's first error, as a pipeline does; a window's close that failed is
    logged instead (the frames are settled, the window closes at a later try)."""
    for index, reply in enumerate(replies):
        if isinstance(reply, redis.ResponseError):
            if index not in closing:
                raise reply
            log.warning("could not close an aggregate window: %s", reply)


def _still_started(members: list[Member], writes: redis.client.Pipeline[bytes]) -> list[Member]:
    """The members whose job is started, watched on ``writes`` until it executes."""
    started = bookkeeping.watch_started([member.job for member in members], writes)
    kept = [member for member, is_started in zip(members, started, strict=True) if is_started]
    if len(kept) < len(members):
        log.warning(
            "%d of a batch's jobs are no longer started: left alone", len(members) - len(kept)
        )
    return kept


def _outcome(member: Member) -> Outcome:
    if member.outcome is None:
        raise RuntimeError(f"job {member.job.id} was settled before it was computed")
    return member.outcome


def _ended(member: Member) -> bookkeeping.Ended:
    outcome = _outcome(member)
    if member.execution is None:
        raise RuntimeError(f"job {member.job.id} was settled before it was started")
    if isinstance(outcome, Failed):
        return bookkeeping.Ended(member.job, member.execution, failure=outcome.describe())
    return bookkeeping.Ended(member.job, member.execution, value=outcome.returned())


def _report_failure(worker: FerWorker, job: Job, failed: Failed) -> None:
    """Log a failed job; pass it to the worker's exception handlers as RQ does."""
    error = failed.error
    if isinstance(error, ForeignJobRefused):
        log.warning("job %s: %s", job.id, error)
        return
    worker.handle_exception(job, type(error), error, error.__traceback__)


def _time_limit(worker: FerWorker, batch: FrameBatch) -> contextlib.AbstractContextManager[Any]:
    """RQ's death penalty for the batch: the shortest timeout among its jobs, and never
    past the moment its frames would count as abandoned."""
    default = worker.queue_class.DEFAULT_TIMEOUT
    timeouts = [member.job.timeout or default for member in batch.members]
    ceiling = worker.settings.abandon_after_seconds - BATCH_TIME_MARGIN_SECONDS
    first = batch.members[0].job.id
    timeout = min([ceiling, *(timeout for timeout in timeouts if timeout > 0)])
    penalty: contextlib.AbstractContextManager[Any] = worker.death_penalty_class(
        timeout, JobTimeoutException, job_id=first
    )
    return penalty
