"""Helpers shared by the live view's tests: a camera's frame and result, put in Redis the
way a producer and a worker put them."""

from __future__ import annotations

import time

import numpy as np
import redis

from common.keys import tracks_stream
from common.results import TRACKS_FIELD
from common.settings import Settings
from common.wire import Box, FaceResult, Result, StageTimings, TrackedFace, Tracks
from producer.frames import CapturedFrame
from producer.submit import FrameSubmitter
from worker import aggregation
from worker.publisher import publish_result

HAPPY = 3
BOX = (200, 120, 160, 160)
PROBABILITIES = (0.02, 0.02, 0.02, 0.88, 0.02, 0.02, 0.02)


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
    connection: redis.Redis[bytes],
    settings: Settings,
    camera_id: str,
    number: int,
    box: tuple[int, int, int, int] = BOX,
    captured_at: float | None = None,
) -> Result:
    """One face, happy, in ``box``, as a worker publishes it."""
    result = Result(
        camera_id=camera_id,
        frame_number=number,
        captured_at=time.time() - 0.05 if captured_at is None else captured_at,
        faces=(FaceResult(Box(*box), HAPPY, PROBABILITIES),),
        timings=StageTimings(0.001, 0.002, 0.01, 0.005, 0.02),
        worker_id="test-worker",
        model_id="test-model",
        published_at=time.time(),
    )
    with connection.pipeline() as pipeline:
        publish_result(pipeline, settings.key_prefix, result, settings.results_stream_maxlen)
        pipeline.execute()
    return result


def publish_tracks(connection: redis.Redis[bytes], settings: Settings, result: Result) -> None:
    """The track service's message for ``result``: each face on a seen, happy track."""
    tracks = Tracks(
        camera_id=result.camera_id,
        frame_number=result.frame_number,
        captured_at=result.captured_at,
        tracks=tuple(
            TrackedFace(
                f"{index + 1:08x}",
                face.box,
                True,
                face.probabilities,
                face.probabilities,
                HAPPY,
                result.captured_at - 1.0,
                result.captured_at,
                10,
            )
            for index, face in enumerate(result.faces)
        ),
        published_at=time.time(),
    )
    key = tracks_stream(settings.key_prefix, result.camera_id)
    connection.xadd(key, {TRACKS_FIELD: tracks.encode()})


def close_window(
    connection: redis.Redis[bytes], settings: Settings, camera_id: str, faces: int
) -> float:
    """Results mode aggregate: ``faces`` happy faces in one window of ``camera_id`` that
    ended a while ago, added and closed as workers add and close it; its start."""
    now = time.time()
    captured = (
        aggregation.window_start(now, settings.aggregate_window) - 3 * settings.aggregate_window
    )
    with connection.pipeline() as pipeline:
        for second in range(faces):
            face = FaceResult(Box(*BOX), HAPPY, PROBABILITIES)
            result = Result(
                camera_id=camera_id,
                frame_number=second,
                captured_at=captured + second * 0.1,
                faces=(face,),
                timings=StageTimings(0.001, 0.002, 0.01, 0.005, 0.02),
                worker_id="test-worker",
                model_id="test-model",
                published_at=now,
            )
            aggregation.add_faces(pipeline, settings, result)
        pipeline.execute()
    aggregation.close_due(connection, settings, camera_id, now)
    return captured
