"""One worker process: set thread limits, load the pipeline once, then serve jobs."""

from __future__ import annotations

import logging

from rq import Queue

from common.connection import SOCKET_TIMEOUT_SECONDS, connect_as
from common.errors import FerStreamError
from common.metrics import worker_metrics
from common.persistence import check_frames_database, checks_persistence
from common.preprocessing import FACE_SIZE
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from worker.rqworker import FerWorker
from worker.runtime import configure_threads, default_worker_id, load_pipeline

log = logging.getLogger(__name__)


def run_worker(settings: Settings, name: str | None = None, burst: bool = False) -> None:
    """Serve frame jobs from ``settings.queue_name`` until stopped (or the queue is empty)."""
    if not settings.redis_url:
        raise FerStreamError("expected REDIS_URL (or FERSTREAM_REDIS_URL) for a worker, got none")
    configure_threads(settings.worker_threads())
    worker_id = name or default_worker_id()
    pipeline = load_pipeline(settings, worker_id)
    metrics = worker_metrics()
    metrics.record_model(pipeline.classifier.model_id, FACE_SIZE, settings.flip_tta)
    # a reply may take as long as a blocking dequeue waits (RQ: worker TTL - 15 s)
    dequeue_wait = max(1, settings.worker_ttl_seconds - 15)
    connection = connect_as(settings, socket_timeout=SOCKET_TIMEOUT_SECONDS + dequeue_wait)
    if checks_persistence(settings):
        check_frames_database(connection, settings.strict)
    queue = Queue(
        settings.queue_name,
        connection=connection,
        serializer=MsgpackSerializer,
        job_class=FrameJob,  # registry sweeps load jobs as FrameJob too: no webhooks sent
    )
    worker = FerWorker(
        [queue],
        settings=settings,
        pipeline=pipeline,
        metrics=metrics,
        connection=connection,
        name=worker_id,
    )
    log.info("worker %s serving %s", worker_id, settings.queue_name)
    worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
