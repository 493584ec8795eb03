from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import redis
from rq import Queue
from rq.job import Job

from common.errors import BrokerUnavailable, SchemaError
from common.keys import cameras_set
from common.rqjob import PROCESS_FRAME
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame
from producer.frames import CapturedFrame
from producer.submit import FrameSubmitter


@pytest.fixture
def captured() -> CapturedFrame:
    image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    faces = [{"box": [100, 40, 120, 120], "label": 3}]
    return CapturedFrame(image, time.time(), {"faces": faces})


def test_submitted_frame_waits_in_the_queue_as_a_named_job(
    redis_conn: redis.Redis[bytes], settings: Settings, rq_queue: Queue, captured: CapturedFrame
) -> None:
    submitter = FrameSubmitter(redis_conn, settings)
    job_id = submitter.submit("cam-7", 42, captured, jpeg_quality=85, max_side=1280)

    assert rq_queue.job_ids == [job_id]
    job = Job.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)
    assert job.func_name == PROCESS_FRAME == "worker.jobs.process_frame"
    assert job.ttl == settings.queued_job_ttl
    assert job.result_ttl == settings.job_result_ttl
    assert job.failure_ttl == settings.job_failure_ttl
    assert job.description is not None
    assert "cam-7" in job.description and "42" in job.description
    assert len(job.description) < 200  # no image bytes in it

    frame = Frame.decode(job.args[0])
    assert (frame.camera_id, frame.frame_number) == ("cam-7", 42)
    assert frame.captured_at == captured.captured_at
    assert (frame.width, frame.height, frame.encoding) == (640, 480, "jpeg")
    assert frame.metadata == captured.metadata
    pixels = cv2.imdecode(np.frombuffer(frame.image, np.uint8), cv2.IMREAD_COLOR)
    assert pixels is not None
    assert pixels.shape == (480, 640, 3)
    assert redis_conn.smembers(cameras_set(settings.key_prefix)) == {b"cam-7"}


def test_large_frames_are_shrunk_with_their_boxes(
    redis_conn: redis.Redis[bytes], settings: Settings, captured: CapturedFrame
) -> None:
    submitter = FrameSubmitter(redis_conn, settings)
    job_id = submitter.submit("cam-1", 0, captured, jpeg_quality=85, max_side=320)
    job = Job.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)
    frame = Frame.decode(job.args[0])
    assert (frame.width, frame.height) == (320, 240)
    assert frame.metadata["faces"] == [{"box": [50, 20, 60, 60], "label": 3}]


def test_queued_job_outlives_max_frame_age_so_a_worker_counts_it_stale(
    redis_conn: redis.Redis[bytes], settings: Settings, captured: CapturedFrame
) -> None:
    submitter = FrameSubmitter(redis_conn, settings.with_changes(max_frame_age=3.5))
    job_id = submitter.submit("cam-1", 0, captured, jpeg_quality=85, max_side=320)
    job = Job.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)
    assert job.ttl == 4 + 60
    assert 4 < redis_conn.ttl(job.key) <= 4 + 60


def test_unreachable_redis_is_broker_unavailable(
    settings: Settings, captured: CapturedFrame
) -> None:
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    submitter = FrameSubmitter(unreachable, settings)
    with pytest.raises(BrokerUnavailable, match="expected Redis to accept frame cam-1#0"):
        submitter.submit("cam-1", 0, captured, jpeg_quality=85, max_side=320)


def test_bad_camera_id_is_refused_before_enqueueing(
    redis_conn: redis.Redis[bytes], settings: Settings, rq_queue: Queue, captured: CapturedFrame
) -> None:
    with pytest.raises(SchemaError, match="camera_id"):
        FrameSubmitter(redis_conn, settings).submit(
            "cam 1/../x", 0, captured, jpeg_quality=85, max_side=320
        )
    assert rq_queue.count == 0


@pytest.mark.parametrize(
    ("privacy", "ttl_ms", "kept"), [("off", 3000, True), ("off", 0, False), ("strict", 3000, False)]
)
def test_the_newest_frame_is_kept_briefly_for_the_live_view_never_under_strict(
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    captured: CapturedFrame,
    privacy: str,
    ttl_ms: int,
    kept: bool,
) -> None:
    from common.keys import latest_frame

    settings = settings.with_changes(privacy=privacy, latest_frame_ttl_ms=ttl_ms)
    submitter = FrameSubmitter(redis_conn, settings)
    submitter.submit("cam-7", 1, captured, jpeg_quality=85, max_side=1280)
    submitter.submit("cam-7", 2, captured, jpeg_quality=85, max_side=1280)

    key = latest_frame(settings.key_prefix, "cam-7")
    raw = redis_conn.get(key)
    if not kept:
        assert raw is None
        return
    assert raw is not None and Frame.decode(raw).frame_number == 2  # one key: the newest
    assert 0 < redis_conn.pttl(key) <= ttl_ms
