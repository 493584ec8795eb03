"""What became of one frame: processed, dropped or failed, and what each of them writes.

Every outcome is counted in its camera's counters (``common.accounting``) and in the
worker's Prometheus metrics; a processed frame's result is also published (or, in
results mode ``aggregate``, its faces counted in their window: ``worker.aggregation``). The writes
go on the caller's pipeline, so a frame's result, its counters and its job's outcome
land in Redis together (``worker.batch.settle``).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

import redis

from common import accounting, retention
from common.keys import counts_hash
from common.metrics import WorkerMetrics
from common.settings import Settings
from common.wire import Result
from worker import aggregation
from worker.publisher import publish_result


@dataclass(frozen=True)
class Processed:
    """The frame's faces were found and classified: ``result`` is published."""

    result: Result

    @property
    def camera_id(self) -> str:
        return self.result.camera_id

    def returned(self) -> dict[str, Any]:
        """What the frame's job returns (RQ keeps it for the job's result TTL)."""
        return {"status": "ok", "faces": len(self.result.faces)}


@dataclass(frozen=True)
class Dropped:
    """The frame was not processed, on purpose (it was older than ``max_frame_age``)."""

    camera_id: str
    reason: str
    age: float  # seconds from capture to the worker taking it up

    def returned(self) -> dict[str, Any]:
        return {"status": "dropped", "reason": self.reason, "age": self.age}


@dataclass(frozen=True)
class Failed:
    """The frame's job fails with ``error``; ``reason`` is the counted label."""

    camera_id: str
    reason: str
    error: BaseException

    def describe(self) -> str:
        """The failure as RQ stores it on the job (its ``exc_string``): type, message and
        the traceback where there is one."""
        return "".join(traceback.format_exception(self.error))


Outcome = Processed | Dropped | Failed


def write_outcome(
    pipeline: redis.client.Pipeline[bytes], outcome: Outcome, settings: Settings
) -> None:
    """Queue the outcome's counter (and a processed frame's result, or in results mode
    ``aggregate`` its faces in its window) on ``pipeline``; with a retention, the
    counters expire that long after this write."""
    prefix = settings.key_prefix
    if isinstance(outcome, Processed):
        if settings.aggregating:
            aggregation.add_faces(pipeline, settings, outcome.result)
        else:
            publish_result(
                pipeline,
                prefix,
                outcome.result,
                settings.results_stream_maxlen,
                settings.results_retention,
            )
        counted = accounting.PROCESSED
    elif isinstance(outcome, Dropped):
        counted = accounting.dropped(outcome.reason)
    else:
        counted = accounting.failed(outcome.reason)
    accounting.count(pipeline, prefix, outcome.camera_id, counted)
    retention.expire(pipeline, [counts_hash(prefix, outcome.camera_id)], settings.results_retention)


def record_outcome(
    metrics: WorkerMetrics,
    outcome: Outcome,
    publish_seconds: float,
    published_at: float,
    per_face: bool = True,
) -> None:
    """Count the outcome in the worker's Prometheus metrics, once it is in Redis (without
    ``per_face``, faces are not counted by emotion per camera: results mode aggregate)."""
    if isinstance(outcome, Processed):
        metrics.record_processed(
            outcome.result, publish_seconds, published_at=published_at, per_face=per_face
        )
    elif isinstance(outcome, Dropped):
        metrics.record_dropped(outcome.camera_id, outcome.reason)
    else:
        metrics.record_failed(outcome.camera_id, outcome.reason)
