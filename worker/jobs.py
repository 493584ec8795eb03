"""The job function RQ sees. ``process_frame`` is the only name a worker runs.

``FerWorker`` serves frame jobs in batches without calling it (``worker.batch.serve``);
RQ's own workers (a plain ``SimpleWorker``, ``rq worker``) call it, and it takes the same
path as a batch of one. Such a worker hands a job nothing but its arguments, so the
settings come from the environment, as ``python -m worker`` reads them, and the
pipeline for them loads once per process.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from common.errors import FerStreamError
from common.metrics import worker_metrics
from common.rqjob import PROCESS_FRAME
from common.settings import Settings
from worker.batch import serve_alone
from worker.runtime import shared_pipeline

__all__ = ["PROCESS_FRAME", "process_frame"]


def process_frame(frame_bytes: bytes) -> dict[str, Any]:
    """Decode a wire ``Frame``, find and classify its faces, publish the ``Result``.

    A frame older than ``max_frame_age`` is dropped (counted, not processed). Bad input
    raises a ``FerStreamError`` subclass after counting it, which fails this job only.
    """
    job = get_current_job()
    if job is None:
        raise FerStreamError("expected to run inside an RQ job, got no current job")
    settings = Settings.from_env()
    return serve_alone(job, frame_bytes, shared_pipeline(settings), settings, worker_metrics())
