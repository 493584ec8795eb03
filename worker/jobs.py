"""The job functions a worker runs. Only names in ``ALLOWED_JOBS`` are ever executed."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from rq import get_current_job

from common import accounting
from common.accounting import UNKNOWN_CAMERA
from common.errors import FerStreamError, SchemaError
from common.metrics import worker_metrics
from common.wire import Frame, Result
from worker import batching, bulk
from worker.pipeline import FramePipeline
from worker.publisher import publish_result
from worker.runtime import installed

log = logging.getLogger(__name__)

PROCESS_FRAME = batching.PROCESS_FRAME
ALLOWED_JOBS = frozenset({PROCESS_FRAME})


def process_frame(frame_bytes: bytes) -> dict[str, Any]:
    """Decode a wire ``Frame``, find and classify its faces, publish the ``Result``.

    A frame older than ``max_frame_age`` is dropped (counted, not processed). Bad input
    raises a ``FerStreamError`` subclass after counting it, which fails this job only.
    """
    pipeline = installed()
    settings = pipeline.settings
    job = get_current_job()
    if job is None:
        raise FerStreamError("expected to run inside an RQ job, got no current job")
    connection: redis.Redis[bytes] = job.connection
    prefix = settings.key_prefix
    metrics = worker_metrics()
    prepared = batching.take(job.id)
    try:
        frame = prepared.frame if prepared else Frame.decode(frame_bytes)
    except SchemaError:
        record_failure(connection, prefix, UNKNOWN_CAMERA, "schema")
        raise
    deferred = bulk.deferred_writes()
    if deferred is None:  # a job started in bulk had its pending entry taken then
        accounting.take_pending(connection, prefix, frame.camera_id, job.id)
    now = prepared.reached_at if prepared else time.time()
    age = now - frame.captured_at
    if age > settings.max_frame_age:
        with _writes(connection, deferred) as writes:
            accounting.count(writes, prefix, frame.camera_id, accounting.dropped("stale"))
        metrics.record_dropped(frame.camera_id, "stale")
        return {"status": "dropped", "reason": "stale", "age": age}
    try:
        if prepared is None:
            result = _process_alone(pipeline, frame, job.enqueued_at, now)
        elif isinstance(prepared.outcome, FerStreamError):
            raise prepared.outcome
        else:
            result = prepared.outcome
    except FerStreamError as exc:
        record_failure(connection, prefix, frame.camera_id, exc.reason)
        raise
    except Exception:
        record_failure(connection, prefix, frame.camera_id, "internal")
        raise
    publishing = time.perf_counter()
    with _writes(connection, deferred) as writes:
        publish_result(writes, prefix, result, settings.results_stream_maxlen)
        accounting.count(writes, prefix, frame.camera_id, accounting.PROCESSED)
    metrics.record_processed(result, time.perf_counter() - publishing, published_at=time.time())
    return {"status": "ok", "faces": len(result.faces)}


@contextmanager
def _writes(
    connection: redis.Redis[bytes], deferred: redis.client.Pipeline[bytes] | None
) -> Iterator[redis.client.Pipeline[bytes]]:
    """``deferred`` (its batch executes it), else a pipeline executed on leaving the block."""
    if deferred is not None:
        yield deferred
        return
    with connection.pipeline(transaction=False) as pipeline:
        yield pipeline
        pipeline.execute()


def record_failure(
    connection: redis.Redis[bytes], prefix: str, camera_id: str, reason: str
) -> None:
    """Count a failed frame in the camera's Redis counters and in the Prometheus metrics."""
    accounting.count(connection, prefix, camera_id, accounting.failed(reason))
    worker_metrics().record_failed(camera_id, reason)


def _process_alone(
    pipeline: FramePipeline, frame: Frame, enqueued_at: datetime | None, now: float
) -> Result:
    """``frame`` through the pipeline on its own (no batch prepared it)."""
    enqueued = batching.timestamp(enqueued_at) if enqueued_at else frame.captured_at
    result = pipeline.process(frame, queue_wait=now - enqueued)
    worker_metrics().record_batch(1)
    return result
