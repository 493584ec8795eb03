from __future__ import annotations

import datetime
import pickle
import zlib
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.results import Result as RQResult
from rq.serializers import resolve_serializer

from common.serializer import SERIALIZER_PATH, MsgpackSerializer
from common.wire import Frame


def add(a: int, b: int) -> int:
    """A job for the real RQ round trip."""
    return a + b


def frame_size(message: bytes) -> dict[str, Any]:
    """A job that takes an encoded wire Frame, as the real worker job does."""
    frame = Frame.decode(message)
    return {"camera": frame.camera_id, "pixels": frame.width * frame.height}


def explode(reason: str) -> None:
    raise RuntimeError(f"job failed: {reason}")


def returns_unencodable() -> object:
    return object()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (-(2**63), -(2**63)),
        (1.5, 1.5),
        ("é", "é"),
        (b"\x00\xff", b"\x00\xff"),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}),
        ({1: "int keys"}, {1: "int keys"}),
        (("f", None, (1, 2), {}), ["f", None, [1, 2], {}]),  # tuples come back as lists
    ],
)
def test_round_trip(value: Any, expected: Any) -> None:
    assert MsgpackSerializer.loads(MsgpackSerializer.dumps(value)) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (object(), "got object"),
        ({"when": datetime.datetime(2024, 1, 1)}, "got dict"),
        ({1, 2}, "got set"),
        (2**64, "got int"),
        ([lambda: None], "got list"),
    ],
)
def test_refuses_what_msgpack_cannot_encode(value: Any, fragment: str) -> None:
    with pytest.raises(TypeError, match="MsgpackSerializer: expected msgpack-encodable") as caught:
        MsgpackSerializer.dumps(value)
    assert fragment in str(caught.value)


def test_never_produces_pickle() -> None:
    data = MsgpackSerializer.dumps(("tests.common.test_serializer.add", None, [1, 2], {}))
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(data)


@pytest.mark.parametrize("serializer", [MsgpackSerializer, SERIALIZER_PATH])
def test_rq_resolves_it(serializer: Any) -> None:
    assert resolve_serializer(serializer) is MsgpackSerializer


def _work(conn: redis.Redis[bytes], queue: Queue) -> None:
    SimpleWorker([queue], connection=conn, serializer=MsgpackSerializer).work(burst=True)


@pytest.mark.parametrize(
    ("func", "args", "expected"),
    [
        (add, (2, 3), 5),
        (frame_size, None, {"camera": "cam-1", "pixels": 64 * 48}),
    ],
)
def test_rq_job_runs_and_stores_its_return_value(
    redis_conn: redis.Redis[bytes],
    rq_queue: Queue,
    make_frame: Any,
    func: Any,
    args: tuple[Any, ...] | None,
    expected: Any,
) -> None:
    job = rq_queue.enqueue(func, *(args or (make_frame().encode(),)), meta={"camera": "cam-1"})
    _work(redis_conn, rq_queue)
    fetched = Job.fetch(job.id, connection=redis_conn, serializer=MsgpackSerializer)
    assert fetched.get_status() == JobStatus.FINISHED
    assert fetched.return_value() == expected
    assert fetched.meta == {"camera": "cam-1"}


def test_rq_job_failure_is_recorded(redis_conn: redis.Redis[bytes], rq_queue: Queue) -> None:
    job = rq_queue.enqueue(explode, "on purpose")
    _work(redis_conn, rq_queue)
    fetched = Job.fetch(job.id, connection=redis_conn, serializer=MsgpackSerializer)
    assert fetched.get_status() == JobStatus.FAILED
    latest = fetched.latest_result()
    assert latest is not None and latest.type == RQResult.Type.FAILED
    assert "RuntimeError: job failed: on purpose" in (latest.exc_string or "")
    assert job.id in rq_queue.failed_job_registry


def test_rq_unencodable_return_value_becomes_placeholder(
    redis_conn: redis.Redis[bytes], rq_queue: Queue
) -> None:
    job = rq_queue.enqueue(returns_unencodable)
    _work(redis_conn, rq_queue)
    fetched = Job.fetch(job.id, connection=redis_conn, serializer=MsgpackSerializer)
    assert fetched.return_value() == "Unserializable return value"


def test_rq_refuses_to_enqueue_unencodable_arguments(rq_queue: Queue) -> None:
    with pytest.raises(TypeError, match="msgpack-encodable"):
        rq_queue.enqueue(add, object(), 1)
    assert rq_queue.count == 0


def test_job_data_in_redis_is_msgpack(redis_conn: redis.Redis[bytes], rq_queue: Queue) -> None:
    job = rq_queue.enqueue(add, 2, 3)
    raw = redis_conn.hget(job.key, "data")
    assert raw is not None
    # rq zlib-compresses the serialized (func_name, instance, args, kwargs) tuple
    assert MsgpackSerializer.loads(zlib.decompress(raw)) == [
        "tests.common.test_serializer.add",
        None,
        [2, 3],
        {},
    ]
