"""``FrameJob`` saves frame data raw, and every RQ reader still reads it; it reads any
job hash, however hostile, without inflating past its limit or raising."""

from __future__ import annotations

import time
import tracemalloc
import zlib

import pytest
import redis
from rq.exceptions import DeserializationError
from rq.job import Job

from common import rqjob
from common.errors import ForeignJobRefused, InvalidFrame
from common.rqjob import MAX_JOB_SECONDS, FrameJob
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


def zlib_bomb(size: int) -> bytes:
    """``size`` zero bytes as one zlib stream (about a thousandth of the size)."""
    packer, chunk = zlib.compressobj(9), bytes(1 << 20)
    parts = [
        packer.compress(chunk[: min(len(chunk), size - done)])
        for done in range(0, size, len(chunk))
    ]
    return b"".join([*parts, packer.flush()])


def stored_job(connection: redis.Redis[bytes], settings: Settings, frame: Frame) -> str:
    job_id = FrameSubmitter(connection, settings).enqueue(frame)
    assert job_id is not None
    return job_id


def read_back(connection: redis.Redis[bytes], job_id: str) -> FrameJob:
    job = FrameJob.fetch(job_id, connection=connection, serializer=MsgpackSerializer)
    assert isinstance(job, FrameJob)
    return job


def test_a_readable_frame_job_has_no_refusal(
    redis_conn: redis.Redis[bytes], settings: Settings, frame: Frame
) -> None:
    job = read_back(redis_conn, stored_job(redis_conn, settings, frame))

    assert job.refusal is None
    assert (job.timeout, job.ttl, job.failure_ttl) == (180, settings.queued_job_ttl, 600)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "zlib"])
def test_job_data_up_to_the_limit_is_read_and_over_it_is_refused_unread(
    compressed: bool,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    frame: Frame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rqjob, "MAX_JOB_DATA_BYTES", 4096)
    job_id = stored_job(redis_conn, settings, frame)
    for size, refused in [(4096, False), (4097, True)]:
        data = bytes(size)
        redis_conn.hset(f"rq:job:{job_id}", "data", zlib.compress(data) if compressed else data)

        job = read_back(redis_conn, job_id)

        if refused:
            assert isinstance(job.refusal, InvalidFrame)
            assert job.refusal.reason == "too_large"
            assert "expected at most 4096 bytes of job data" in str(job.refusal)
            assert job.data == b""
        else:
            assert job.refusal is None
            assert job.data == data


def test_a_zlib_bomb_is_never_inflated_past_the_limit(
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    frame: Frame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by tests/fuzz: RQ inflated a job's data whatever its size (200 KB of zlib
    took a worker to 900 MB)."""
    monkeypatch.setattr(rqjob, "MAX_JOB_DATA_BYTES", 1 << 20)
    job_id = stored_job(redis_conn, settings, frame)
    redis_conn.hset(f"rq:job:{job_id}", "data", zlib_bomb(64 << 20))

    tracemalloc.start()
    try:
        job = read_back(redis_conn, job_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert isinstance(job.refusal, InvalidFrame) and job.refusal.reason == "too_large"
    assert peak < 8 << 20  # the 64 MiB it inflates to were never made


# Found by tests/fuzz: each of these raised out of RQ's dequeue and stopped the worker.
HOSTILE_FIELDS = [
    ("status", b"bogus", "is not a valid JobStatus"),
    ("created_at", b"garbage", "does not match format"),
    ("enqueued_at", b"\xff\xfe", "can't decode"),
    ("origin", b"\xff", "can't decode"),
    ("timeout", b"1e400", "AssertionError"),
    ("timeout", b"99999999999999999999", "timeout in -1..31622400 seconds, got int"),
    ("result_ttl", b"x", "invalid literal for int()"),
    ("failure_ttl", b"99999999999999999999", "failure_ttl in -1..31622400 seconds"),
    ("ttl", b"-7", "ttl in -1..31622400 seconds, got int -7"),
    ("success_callback_timeout", b"5" * 30, "success_callback_timeout in -1.."),
    ("dependency_ids", b"{not json", "JSONDecodeError"),
    ("dependency_ids", b"[" * 100_000, "RecursionError"),
    ("dependency_ids", b"5", "dependencies as a list of job ids, got int 5"),
    ("dependency_ids", b'[{"id": 1}]', "dependencies as a list of job ids, got list [{'id': 1}]"),
    ("retry_intervals", b"x", "JSONDecodeError"),
    ("enqueue_at_front", b"x", "invalid literal for int()"),
]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    HOSTILE_FIELDS,
    ids=[f"{f}={v[:12]!r}" for f, v, _ in HOSTILE_FIELDS],
)
def test_a_hash_rq_cannot_read_becomes_a_refused_job_with_rq_defaults(
    field: str,
    value: bytes,
    says: str,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    frame: Frame,
) -> None:
    job_id = stored_job(redis_conn, settings, frame)
    redis_conn.hset(f"rq:job:{job_id}", field, value)

    job = read_back(redis_conn, job_id)

    assert isinstance(job.refusal, ForeignJobRefused)
    assert says in str(job.refusal) and "refused" in str(job.refusal)
    assert len(str(job.refusal)) < 300
    durations = (job.timeout, job.result_ttl, job.failure_ttl, job.ttl)
    assert durations == (None, None, None, None)  # the worker's own defaults apply
    assert job.data  # still readable, never run


def test_the_duration_limits_are_inclusive(
    redis_conn: redis.Redis[bytes], settings: Settings, frame: Frame
) -> None:
    job_id = stored_job(redis_conn, settings, frame)
    for value, refused in [(-1, False), (MAX_JOB_SECONDS, False), (MAX_JOB_SECONDS + 1, True)]:
        redis_conn.hset(f"rq:job:{job_id}", "failure_ttl", value)
        assert (read_back(redis_conn, job_id).refusal is not None) is refused


def test_a_hash_without_data_is_read_as_undecodable(
    redis_conn: redis.Redis[bytes], settings: Settings, frame: Frame
) -> None:
    job_id = stored_job(redis_conn, settings, frame)
    redis_conn.hdel(f"rq:job:{job_id}", "data")

    job = read_back(redis_conn, job_id)

    assert job.data == b""
    with pytest.raises(DeserializationError):
        job.func_name  # noqa: B018
