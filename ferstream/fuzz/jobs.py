"""Hostile jobs: what a producer with write access to Redis could queue for a worker.

Frame jobs carrying any frame bytes, or a frame valid but for its image; job data that
is not the serialized call a worker expects (any msgpack value, a pickle, a zlib bomb);
calls to other functions; calls that ask RQ for callbacks, dependencies, retries; job
hashes with any field rewritten. Each ``HostileJob`` says what it tries (``kind``) and
how it is put on a queue (``enqueue``).
"""

from __future__ import annotations

import functools
import json
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from rq import Queue

from common.rqjob import MAX_JOB_DATA_BYTES, PROCESS_FRAME
from ferstream.fuzz.messages import hostile_frames, image_frames, pack, valid_frames, values

KINDS = ("frame", "image", "call", "pickle", "foreign", "asks", "hash", "oversized")
# Jobs queued before each burst of a worker (which batches 4 at a time): RQ spends about
# a second starting and stopping a worker, so bursts are not of one job.
MAX_BURST = 24
# What a hostile producer might name instead of process_frame.
FOREIGN_FUNCTIONS = (
    "os.system",
    "builtins.eval",
    "subprocess.check_call",
    "shutil.rmtree",
    "worker.jobs._timestamp",
    "worker.batch.serve",
    "process_frame",
    "worker.jobs.process_frame ",
)
# Every field RQ 3 reads from a job hash (``Job.restore``).
HASH_FIELDS = (
    "created_at", "origin", "worker_name", "description", "enqueued_at", "started_at",
    "ended_at", "last_heartbeat", "group_id", "result", "timeout", "result_ttl",
    "failure_ttl", "status", "success_callback_name", "success_callback_timeout",
    "failure_callback_name", "failure_callback_timeout", "stopped_callback_name",
    "stopped_callback_timeout", "webhooks", "dependency_ids", "dependency_id",
    "allow_dependency_failures", "enqueue_at_front", "ttl", "meta", "number_of_retries",
    "retries_left", "retry_intervals", "enqueue_at_front_on_retry", "repeats_left",
    "repeat_intervals", "rate_limit_key", "rate_limit_concurrency", "exc_info",
)  # fmt: skip
# What a job may ask of RQ besides the call, as hash fields (the worker refuses each).
ASKS: tuple[tuple[tuple[str, bytes], ...], ...] = (
    (("success_callback_name", b"os.system"),),
    (("failure_callback_name", b"builtins.exec"),),
    (("stopped_callback_name", b"shutil.rmtree"),),
    (("dependency_ids", b'["some-other-job"]'),),
    (("webhooks", b'[{"url": "http://169.254.169.254/latest/", "job_status": "finished"}]'),),
    (("repeats_left", b"3"),),
    (("retries_left", b"5"),),
    (("rate_limit_key", b"cams"), ("rate_limit_concurrency", b"1")),
)


@dataclass(frozen=True)
class HostileJob:
    """One job as a hostile producer queues it: enqueued with ``func_name`` and the frame
    ``payload``, then its hash's ``data`` and ``fields`` written over."""

    kind: str
    payload: bytes = b"x"
    func_name: str = PROCESS_FRAME
    data: bytes | None = None
    fields: tuple[tuple[str, bytes], ...] = ()


def enqueue(queue: Queue, job: HostileJob) -> str:
    """Queue ``job`` with RQ's own ``enqueue_call``, then rewrite its hash; its id."""
    queued = queue.enqueue_call(job.func_name, args=(job.payload,))
    overrides = dict(job.fields)
    if job.data is not None:
        overrides["data"] = job.data
    if overrides:
        queue.connection.hset(queued.key, mapping=overrides)  # type: ignore[arg-type]
    return str(queued.id)


class _Trap:
    """Unpickling this touches ``marker``: proof that a worker unpickled a job."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return Path.touch, (self.marker,)


@functools.cache
def zlib_bomb() -> bytes:
    """One byte more than ``MAX_JOB_DATA_BYTES`` of zeros, as a zlib stream (~65 KB)."""
    return zlib.compress(bytes(MAX_JOB_DATA_BYTES + 1), 9)


def field_values() -> st.SearchStrategy[bytes]:
    """What a hash field could hold: numbers RQ parses (huge, negative, not finite),
    dates, JSON, text that is not UTF-8, any bytes."""
    numbers = st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(["1e400", "nan", "-inf", "1.5", "-1", "0", "10s", "2h", "99999999d"]),
    )
    dates = st.sampled_from(["2024-01-01T00:00:00Z", "2024-13-45T99:99:99.000000Z", "now", ""])
    as_json = values().map(lambda value: json.dumps(value, default=repr, skipkeys=True))
    text = st.one_of(numbers, dates, as_json, st.text(max_size=64))
    return st.one_of(text.map(str.encode), st.binary(max_size=64))


def _call(func_name: Any, instance: Any, args: Any, kwargs: Any) -> bytes:
    return pack([func_name, instance, args, kwargs])


def _pickled(trap: Path, payload: bytes, protocol: int, compressed: bool) -> bytes:
    """The call as RQ's default serializer writes it, with a trap as its instance."""
    pickled = pickle.dumps((PROCESS_FRAME, _Trap(trap), [payload], {}), protocol=protocol)
    return zlib.compress(pickled) if compressed else pickled


def jobs_by_kind(trap: Path) -> dict[str, st.SearchStrategy[HostileJob]]:
    """A strategy for each of ``KINDS``; a pickle touches ``trap`` if it is ever unpickled."""
    frames = hostile_frames()
    call = st.builds(
        _call,
        st.one_of(st.just(PROCESS_FRAME), values()),
        st.one_of(st.none(), values()),
        st.one_of(st.lists(frames, max_size=2), values()),
        st.one_of(st.just({}), values()),
    )
    pickled = st.builds(_pickled, st.just(trap), frames, st.sampled_from([4, 5]), st.booleans())
    fields = st.lists(st.tuples(st.sampled_from(HASH_FIELDS), field_values()), max_size=3)
    return {
        "frame": st.builds(HostileJob, st.just("frame"), frames),
        "image": st.builds(HostileJob, st.just("image"), image_frames()),
        "call": st.builds(
            HostileJob, st.just("call"), data=st.one_of(call, st.binary(max_size=256))
        ),
        "pickle": st.builds(HostileJob, st.just("pickle"), data=pickled),
        "foreign": st.builds(
            HostileJob, st.just("foreign"), frames, st.sampled_from(FOREIGN_FUNCTIONS)
        ),
        "asks": st.builds(
            HostileJob, st.just("asks"), valid_frames(), fields=st.sampled_from(ASKS)
        ),
        "hash": st.builds(HostileJob, st.just("hash"), valid_frames(), fields=fields.map(tuple)),
        "oversized": st.builds(HostileJob, st.just("oversized"), data=st.builds(zlib_bomb)),
    }


def hostile_jobs(trap: Path, kinds: tuple[str, ...] = KINDS) -> st.SearchStrategy[HostileJob]:
    """Jobs of any of ``kinds``."""
    strategies = jobs_by_kind(trap)
    return st.one_of([strategies[kind] for kind in kinds])


def bursts(trap: Path, most: int = MAX_BURST) -> st.SearchStrategy[list[HostileJob]]:
    """1 to ``most`` hostile jobs, queued together before a worker serves them."""
    jobs = hostile_jobs(trap)
    return st.integers(1, most).flatmap(lambda size: st.lists(jobs, min_size=size, max_size=size))
