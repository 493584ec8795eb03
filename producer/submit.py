"""Putting frames on the RQ queue, as msgpack ``Frame`` messages, never pickled."""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job

from common import retention
from common.accounting import SUBMITTED, count
from common.connection import denied
from common.errors import BrokerUnavailable
from common.keys import cameras_set, counts_hash, latest_frame
from common.metrics import ProducerMetrics, producer_metrics
from common.rqjob import PROCESS_FRAME, FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame
from producer.backpressure import QUEUE_FULL, PendingBound
from producer.encoding import encode_jpeg, fit_within, scale_boxes
from producer.frames import CapturedFrame
from producer.tally import SubmittedTally


class FrameSubmitter:
    """Encodes captured frames and enqueues one ``process_frame`` job per frame."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        settings: Settings,
        metrics: ProducerMetrics | None = None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.metrics = metrics or producer_metrics()
        self.queue = Queue(
            settings.queue_name,
            connection=connection,
            serializer=MsgpackSerializer,
            job_class=FrameJob,
        )
        self.cameras_key = cameras_set(settings.key_prefix)
        self.bound = PendingBound(
            connection,
            settings.key_prefix,
            self.queue.key,
            Job.redis_job_namespace_prefix,
            settings.max_pending_per_camera,
            settings.overflow_policy,
        )
        # what Redis confirmed per camera: a failover that lost frames is counted
        self.tally = SubmittedTally(connection, settings.key_prefix, settings.results_retention)

    def build_frame(
        self,
        camera_id: str,
        frame_number: int,
        captured: CapturedFrame,
        *,
        jpeg_quality: int,
        max_side: int,
    ) -> Frame:
        """The wire message for ``captured``: shrunk, JPEG-encoded, face boxes rescaled."""
        image, factor = fit_within(captured.image, max_side)
        height, width = image.shape[:2]
        return Frame(
            camera_id=camera_id,
            frame_number=frame_number,
            captured_at=captured.captured_at,
            image=encode_jpeg(image, jpeg_quality),
            width=width,
            height=height,
            encoding="jpeg",
            metadata=scale_boxes(captured.metadata, factor),
        )

    def submit(
        self,
        camera_id: str,
        frame_number: int,
        captured: CapturedFrame,
        *,
        jpeg_quality: int,
        max_side: int,
    ) -> str | None:
        """Enqueue one frame; its job id, or None if the overflow policy dropped it.

        ``BrokerUnavailable`` if Redis fails.
        """
        frame = self.build_frame(
            camera_id, frame_number, captured, jpeg_quality=jpeg_quality, max_side=max_side
        )
        return self.enqueue(frame)

    def enqueue(self, frame: Frame) -> str | None:
        """Enqueue a built frame within its camera's bound; its job id, or None if dropped.

        ``BrokerUnavailable`` if Redis fails, ``AccessDenied`` if its ACL refuses the user.
        """
        settings = self.settings
        description = (
            f"process_frame camera={frame.camera_id} n={frame.frame_number} "
            f"{frame.width}x{frame.height} {frame.encoding} {len(frame.image)} bytes"
        )
        try:
            if not self.bound.admit(frame.camera_id, settings.max_frame_age):
                self._count_refused(frame.camera_id)
                return None
            pipeline = self.connection.pipeline()
            payload = frame.encode()
            job = self.queue.enqueue_call(
                PROCESS_FRAME,
                args=(payload,),
                ttl=settings.queued_job_ttl,
                result_ttl=settings.job_result_ttl,
                failure_ttl=settings.job_failure_ttl,
                description=description,
                pipeline=pipeline,
            )
            checked = self._count_submitted(pipeline, frame.camera_id)
            self.bound.track(pipeline, frame.camera_id, job.id)
            self._keep_latest(pipeline, frame.camera_id, payload)
            self.tally.confirm(frame.camera_id, pipeline.execute()[checked])
        except redis.exceptions.NoPermissionError as exc:  # this producer's ACL: no frame will pass
            raise denied(exc, self.connection) from None
        except (redis.RedisError, OSError) as exc:
            self.metrics.submit_failures.labels(camera=frame.camera_id).inc()
            raise BrokerUnavailable(
                f"queue {settings.queue_name!r}: expected Redis to accept frame "
                f"{frame.camera_id}#{frame.frame_number}, got {type(exc).__name__}: {exc}"
            ) from exc
        self.metrics.frames_submitted.labels(camera=frame.camera_id).inc()
        return str(job.id)

    def _keep_latest(
        self, pipeline: redis.client.Pipeline[bytes], camera_id: str, payload: bytes
    ) -> None:
        """Queue: the camera's newest frame in its one short-lived key, for the live view's
        renderer (``ferstream web``); never under strict privacy."""
        if self.settings.keeps_latest_frame:
            key = latest_frame(self.settings.key_prefix, camera_id)
            pipeline.set(key, payload, px=self.settings.latest_frame_ttl_ms)

    def _count_refused(self, camera_id: str) -> None:
        """A frame the overflow policy turned away: submitted, and dropped as queue_full."""
        with self.connection.pipeline() as pipeline:
            checked = self._count_submitted(pipeline, camera_id)
            count(pipeline, self.settings.key_prefix, camera_id, QUEUE_FULL)
            self.tally.confirm(camera_id, pipeline.execute()[checked])
        self.metrics.frames_submitted.labels(camera=camera_id).inc()

    def _count_submitted(self, pipeline: redis.client.Pipeline[bytes], camera_id: str) -> int:
        """Queue: the camera is known and one more of its frames submitted, checked
        against what Redis confirmed before (``producer.tally``); with a retention, both
        expire that long after this write (``common.retention``). The index of the
        check's reply."""
        prefix = self.settings.key_prefix
        pipeline.sadd(self.cameras_key, camera_id)
        count(pipeline, prefix, camera_id, SUBMITTED)
        checked = self.tally.check(pipeline, camera_id)
        keys = [self.cameras_key, counts_hash(prefix, camera_id)]
        retention.expire(pipeline, keys, self.settings.results_retention)
        return checked
