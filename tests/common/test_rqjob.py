"""``FrameJob`` saves frame data raw, and every RQ reader still reads it."""

from __future__ import annotations

import time
import zlib

import pytest
import redis
from rq.job import Job

from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame
from producer.submit import FrameSubmitter
from worker.jobs import PROCESS_FRAME


@pytest.fixture
def frame(jpeg_bytes: bytes) -> Frame:
    return Frame(
        camera_id="cam-raw",
        frame_number=3,
        captured_at=time.time(),
        image=jpeg_bytes,
        width=64,
        height=48,
    )


def test_an_enqueued_frame_is_stored_uncompressed(
    redis_conn: redis.Redis[bytes], settings: Settings, frame: Frame
) -> None:
    job_id = FrameSubmitter(redis_conn, settings).enqueue(frame)
    assert job_id is not None

    stored = redis_conn.hget(f"rq:job:{job_id}", "data")
    assert stored is not None
    expected = MsgpackSerializer.dumps((PROCESS_FRAME, None, [frame.encode()], {}))
    assert stored == expected
    with pytest.raises(zlib.error):  # RQ's loader falls back to raw data exactly then
        zlib.decompress(stored)


@pytest.mark.parametrize("job_class", [Job, FrameJob])
def test_plain_and_frame_job_readers_get_the_frame_back(
    redis_conn: redis.Redis[bytes], settings: Settings, frame: Frame, job_class: type[Job]
) -> None:
    job_id = FrameSubmitter(redis_conn, settings).enqueue(frame)
    assert job_id is not None

    job = job_class.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)

    assert job.func_name == PROCESS_FRAME
    assert Frame.decode(job.args[0]) == frame


def test_saving_again_keeps_the_job_readable(
    redis_conn: redis.Redis[bytes], settings: Settings, frame: Frame
) -> None:
    job_id = FrameSubmitter(redis_conn, settings).enqueue(frame)
    assert job_id is not None
    job = FrameJob.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)

    job.save()  # as a worker does when the job finishes

    again = Job.fetch(job_id, connection=redis_conn, serializer=MsgpackSerializer)
    assert Frame.decode(again.args[0]) == frame
