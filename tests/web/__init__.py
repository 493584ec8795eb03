"""Helpers shared by the live view's tests: a camera's frame and result, put in Redis the
way a producer and a worker put them."""

from __future__ import annotations

import time

import numpy as np
import redis

from common.settings import Settings
from common.wire import Box, FaceResult, Result, StageTimings
from producer.frames import CapturedFrame
from producer.submit import FrameSubmitter
from worker.publisher import publish_result

HAPPY = 3
BOX = (200, 120, 160, 160)


def submit_frame(
    connection: redis.Redis[bytes], settings: Settings, camera_id: str, number: int
) -> None:
    """A flat mid-grey 640x480 frame, as its producer submits it."""
    image = np.full((480, 640, 3), 128, dtype=np.uint8)
    captured = CapturedFrame(image, time.time(), {})
    FrameSubmitter(connection, settings).submit(
        camera_id, number, captured, jpeg_quality=90, max_side=1280
    )


def publish(
    connection: redis.Redis[bytes], settings: Settings, camera_id: str, number: int
) -> Result:
    """One face, happy, in ``BOX``, as a worker publishes it."""
    probabilities = [0.02] * 7
    probabilities[HAPPY] = 0.88
    result = Result(
        camera_id=camera_id,
        frame_number=number,
        captured_at=time.time() - 0.05,
        faces=(FaceResult(Box(*BOX), HAPPY, tuple(probabilities)),),
        timings=StageTimings(0.001, 0.002, 0.01, 0.005, 0.02),
        worker_id="test-worker",
        model_id="test-model",
        published_at=time.time(),
    )
    with connection.pipeline() as pipeline:
        publish_result(pipeline, settings.key_prefix, result, settings.results_stream_maxlen)
        pipeline.execute()
    return result
