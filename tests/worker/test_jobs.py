"""Frame jobs through a real ``FerWorker`` on the real Redis, run in burst mode in-process.

The worker is the production class with the real pipeline (Haar + the shipped model)
loaded once per session; each test enqueues jobs, runs one burst and looks at what
a user would see: job statuses and errors, published results, and the per-camera counts.
"""

from __future__ import annotations

import pickle
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import msgpack
import pytest
import redis
from rq import Callback, Queue, RateLimit, Repeat, Retry
from rq.job import Job, JobStatus
from rq.webhook import Webhook

from common import rqjob
from common.accounting import UNKNOWN_CAMERA, read_counts
from common.keys import results_channel
from common.results import read_history
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame, Result
from ferstream.scoring import match_faces
from producer.submit import FrameSubmitter
from tests.worker import BAD_JOB_NAMES, SlowDetector, bad_jobs, scene_frame
from worker.jobs import PROCESS_FRAME
from worker.pipeline import FramePipeline
from worker.rqworker import FerWorker


def write_marker(path: str) -> None:
    """A function a hostile producer might name: it must never run."""
    Path(path).write_text("this job ran")


class Exploit:
    """What a hostile producer pickles: unpickling it runs ``write_marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return write_marker, (str(self.marker),)


def marker_callback(job: Job, connection: object, *rest: object) -> None:
    """A callback a hostile producer might attach to a real frame job: it must never run."""
    Path(job.meta["marker"]).write_text("this callback ran")


@pytest.fixture
def submitter(redis_conn: redis.Redis[bytes], settings: Settings) -> FrameSubmitter:
    # jobs are queued before the burst worker starts: room for all of them; finished jobs
    # are kept a minute (the default deletes them) so that tests can read what RQ recorded
    kept = settings.with_changes(max_pending_per_camera=100, job_result_ttl=60)
    return FrameSubmitter(redis_conn, kept)


def fetch(job_id: str, connection: redis.Redis[bytes]) -> Job:
    return Job.fetch(job_id, connection=connection, serializer=MsgpackSerializer)


def failure_of(job: Job) -> str:
    """The exc_string RQ stored for a failed job (what ``rq info`` and dashboards show)."""
    result = job.latest_result()
    assert result is not None, f"job {job.id} has no result"
    assert result.exc_string is not None, f"job {job.id} did not fail: {result.type}"
    return result.exc_string


def published(pubsub: redis.client.PubSub, expect: int, timeout: float = 2.0) -> list[Result]:
    """Results received on a subscribed channel: ``expect`` of them, or all within ``timeout``."""
    results: list[Result] = []
    deadline = time.monotonic() + timeout
    while len(results) < expect and time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None and message["type"] == "message":
            results.append(Result.decode(message["data"]))
    return results


def subscribe(connection: redis.Redis[bytes], prefix: str, camera_id: str) -> redis.client.PubSub:
    """A subscription to a camera's results channel, confirmed before any job runs."""
    pubsub = connection.pubsub()
    pubsub.subscribe(results_channel(prefix, camera_id))
    assert pubsub.get_message(timeout=2.0) is not None  # the subscription is confirmed
    return pubsub


def test_a_good_frame_is_published_and_counted(
    worker: FerWorker,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    frame_pipeline: FramePipeline,
    fer_data_dir: Path,
) -> None:
    frame = scene_frame(fer_data_dir, camera_id="cam-1", frame_number=5, seed=0)
    pubsub = subscribe(redis_conn, settings.key_prefix, "cam-1")

    job_id = submitter.enqueue(frame)
    worker.work(burst=True)

    job = fetch(job_id, redis_conn)
    assert job.get_status() == JobStatus.FINISHED
    [(_, stored)] = read_history(redis_conn, settings.key_prefix, "cam-1")
    assert (stored.camera_id, stored.frame_number, stored.captured_at) == (
        "cam-1",
        5,
        frame.captured_at,
    )
    assert stored.model_id == frame_pipeline.classifier.model_id
    assert stored.worker_id == frame_pipeline.worker_id
    assert job.return_value() == {"status": "ok", "faces": len(stored.faces)}
    truth = frame.metadata["faces"]
    found = [(face.box.as_list(), face.label) for face in stored.faces]
    assert len(match_faces(found, truth)) >= 1  # the scene's faces were found where they are
    assert published(pubsub, expect=1) == [stored]
    counts = read_counts(redis_conn, settings.key_prefix, "cam-1")
    assert (counts.submitted, counts.processed, counts.dropped, counts.failed) == (1, 1, {}, {})
    pubsub.close()


def test_a_stale_frame_is_dropped_unpublished(
    worker: FerWorker,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    frame = scene_frame(fer_data_dir, camera_id="cam-1", captured_at=time.time() - 3600)
    pubsub = subscribe(redis_conn, settings.key_prefix, "cam-1")

    job_id = submitter.enqueue(frame)
    worker.work(burst=True)

    job = fetch(job_id, redis_conn)
    assert job.get_status() == JobStatus.FINISHED
    outcome = job.return_value()
    assert outcome is not None
    assert (outcome["status"], outcome["reason"]) == ("dropped", "stale")
    assert outcome["age"] >= 3600
    assert read_history(redis_conn, settings.key_prefix, "cam-1") == []
    assert published(pubsub, expect=1, timeout=0.5) == []
    counts = read_counts(redis_conn, settings.key_prefix, "cam-1")
    assert (counts.submitted, counts.processed, counts.dropped) == (1, 0, {"stale": 1})
    pubsub.close()


@pytest.mark.parametrize("name", BAD_JOB_NAMES)
def test_a_bad_frame_fails_its_job_only(
    name: str,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    [bad] = [job for job in bad_jobs() if job.name == name]

    bad_id = rq_queue.enqueue_call(PROCESS_FRAME, args=(bad.payload,)).id
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    bad_job = fetch(bad_id, redis_conn)
    assert bad_job.get_status() == JobStatus.FAILED
    assert bad_id in rq_queue.failed_job_registry
    error = failure_of(bad_job)
    assert bad.says in error
    assert "expected" in error
    counts = read_counts(redis_conn, settings.key_prefix, bad.camera_id)
    assert counts.failed == {bad.reason: 1}
    assert counts.processed == 0
    # the same burst went on to the next frame
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED
    assert read_counts(redis_conn, settings.key_prefix, "cam-good").processed == 1


@pytest.mark.parametrize(
    ("func_name", "command"),
    [
        ("os.system", "touch {marker}"),
        (f"{__name__}.write_marker", "{marker}"),
        ("worker.jobs._timestamp", "{marker}"),  # the project's module, not an allowed job
    ],
    ids=["os.system", "a test function", "a non-job worker function"],
)
def test_a_foreign_function_is_refused_unrun(
    func_name: str,
    command: str,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"

    foreign_id = rq_queue.enqueue_call(func_name, args=(command.format(marker=marker),)).id
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    foreign = fetch(foreign_id, redis_conn)
    assert foreign.get_status() == JobStatus.FAILED
    error = failure_of(foreign)
    assert "ForeignJobRefused" in error
    assert repr(func_name) in error
    assert not marker.exists()
    unknown = read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA)
    assert unknown.failed == {"foreign_job": 1}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


@pytest.mark.parametrize("hook", ["on_success", "on_failure", "on_stopped"])
def test_a_frame_job_that_names_callbacks_is_refused_unrun(
    hook: str,
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    frame = scene_frame(fer_data_dir, camera_id="cam-hooked")
    job = rq_queue.enqueue_call(
        PROCESS_FRAME,
        args=(frame.encode(),),
        meta={"marker": str(marker)},
        **{hook: Callback(marker_callback)},
    )
    worker.work(burst=True)

    refused = fetch(job.id, redis_conn)
    assert refused.get_status() == JobStatus.FAILED
    assert "ForeignJobRefused" in failure_of(refused) and "marker_callback" in failure_of(refused)
    assert not marker.exists()
    assert read_history(redis_conn, settings.key_prefix, "cam-hooked") == []  # never processed
    unknown = read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA)
    assert unknown.failed == {"foreign_job": 1}


@pytest.mark.parametrize(
    ("asks", "says"),
    [
        ("depends_on", "dependencies ["),
        ("repeat", "2 repeats"),
        ("rate_limit", "rate limit 'cams'"),
        ("retry", "3 retries"),
    ],
    ids=["a dependency", "repeats", "a rate limit", "retries"],
)
def test_a_frame_job_that_asks_rq_for_more_is_refused_unrun(
    asks: str,
    says: str,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    extra: dict[str, object] = {
        "repeat": Repeat(times=2),
        "rate_limit": RateLimit("cams", concurrency=1),
        "retry": Retry(max=3),
    }
    if asks == "depends_on":  # a finished job, so that RQ enqueues its dependent at once
        extra["depends_on"] = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
        worker.work(burst=True)
    frame = scene_frame(fer_data_dir, camera_id="cam-asks")
    job = rq_queue.enqueue_call(PROCESS_FRAME, args=(frame.encode(),), **{asks: extra[asks]})
    assert job.get_status() == JobStatus.QUEUED
    worker.work(burst=True)

    refused = fetch(job.id, redis_conn)
    assert refused.get_status() == JobStatus.FAILED
    assert "ForeignJobRefused" in failure_of(refused) and says in failure_of(refused)
    assert read_history(redis_conn, settings.key_prefix, "cam-asks") == []  # never processed
    unknown = read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA)
    assert unknown.failed == {"foreign_job": 1}
    assert rq_queue.count == 0  # nothing repeated, retried or left waiting


class RequestLog(BaseHTTPRequestHandler):
    """An HTTP server's handler that only notes each request it gets."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_frame_job_that_names_a_webhook_is_refused_and_no_request_is_sent(
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    server = HTTPServer(("127.0.0.1", 0), RequestLog)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    RequestLog.seen.clear()
    try:
        hooked = [
            rq_queue.enqueue_call(
                PROCESS_FRAME,
                args=(scene_frame(fer_data_dir, "cam-hooked", n, seed=n).encode(),),
                webhooks=[Webhook(url, status, method="POST") for status in ("finished", "failed")],
            )
            for n in range(2)
        ]
        good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
        worker.work(burst=True)
    finally:
        server.shutdown()
        server.server_close()

    assert RequestLog.seen == []  # the worker never called the URL a job named
    for job in hooked:
        refused = fetch(job.id, redis_conn)
        assert refused.get_status() == JobStatus.FAILED
        assert "ForeignJobRefused" in failure_of(refused) and "2 webhooks" in failure_of(refused)
    assert read_history(redis_conn, settings.key_prefix, "cam-hooked") == []
    unknown = read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA)
    assert unknown.failed == {"foreign_job": 2}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1\xc1 not msgpack",
        msgpack.packb({"not": "a job tuple"}),
        msgpack.packb(["worker.jobs.process_frame"]),
    ],
    ids=["not msgpack", "a map", "a short list"],
)
def test_undecodable_job_data_is_refused_and_the_worker_survives(
    data: bytes,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    broken = rq_queue.enqueue_call(PROCESS_FRAME, args=(b"replaced below",))
    redis_conn.hset(broken.key, "data", data)  # as a hostile or buggy client could
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    job = fetch(broken.id, redis_conn)
    assert job.get_status() == JobStatus.FAILED
    assert "ForeignJobRefused" in failure_of(job)
    assert read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA).failed == {"foreign_job": 1}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


def test_a_job_pickled_by_rqs_default_serializer_is_refused_never_unpickled(
    worker: FerWorker,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    pickling = Queue(settings.queue_name, connection=redis_conn)  # RQ's default: pickle
    pickled = pickling.enqueue_call(
        PROCESS_FRAME, args=(Exploit(marker),), meta={"also": Exploit(marker)}
    )
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    assert not marker.exists()  # nothing of the job was unpickled
    job = fetch(pickled.id, redis_conn)
    assert job.get_status() == JobStatus.FAILED
    assert "ForeignJobRefused" in failure_of(job) and "undecodable job data" in failure_of(job)
    assert read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA).failed == {"foreign_job": 1}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


def test_a_pickled_frame_is_refused_never_unpickled(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    job = rq_queue.enqueue_call(PROCESS_FRAME, args=(pickle.dumps(Exploit(marker)),))
    worker.work(burst=True)

    assert not marker.exists()
    assert fetch(job.id, redis_conn).get_status() == JobStatus.FAILED
    assert "expected a msgpack map" in failure_of(fetch(job.id, redis_conn))
    assert read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA).failed == {"schema": 1}


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "a zlib bomb"])
def test_an_oversized_job_is_refused_unread_and_counted(
    compressed: bool,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by tests/fuzz: RQ inflated a zlib stream in a job's data whatever its size."""
    monkeypatch.setattr(rqjob, "MAX_JOB_DATA_BYTES", 256 * 1024)  # the scene frames fit
    big = bytes(4 * 1024 * 1024)
    oversized = rq_queue.enqueue_call(PROCESS_FRAME, args=(b"replaced below",))
    redis_conn.hset(oversized.key, "data", zlib.compress(big, 9) if compressed else big)
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    job = fetch(oversized.id, redis_conn)
    assert job.get_status() == JobStatus.FAILED
    assert "expected at most 262144 bytes of job data" in failure_of(job)
    assert read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA).failed == {"too_large": 1}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", b"bogus"),
        ("created_at", b"garbage"),
        ("timeout", b"99999999999999999999"),  # over signal.alarm's range
        ("failure_ttl", b"99999999999999999999"),  # over Redis EXPIRE's range
        ("dependency_ids", b"{not json"),
        ("dependency_ids", b"true"),  # RQ saved the job with dependency_ids[0]
        ("origin", b"\xff\xfe"),
    ],
)
def test_a_job_hash_rq_cannot_read_is_refused_and_the_worker_goes_on(
    field: str,
    value: bytes,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    """Found by tests/fuzz: each of these stopped the worker that dequeued the job."""
    frame = scene_frame(fer_data_dir, camera_id="cam-hostile")
    hostile = rq_queue.enqueue_call(PROCESS_FRAME, args=(frame.encode(),))
    redis_conn.hset(hostile.key, field, value)
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    assert redis_conn.hget(hostile.key, "status") == JobStatus.FAILED.value.encode()
    assert hostile.id in rq_queue.failed_job_registry
    assert read_history(redis_conn, settings.key_prefix, "cam-hostile") == []  # never processed
    assert read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA).failed == {"foreign_job": 1}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


def deep(depth: int) -> object:
    value: object = "worker.jobs.process_frame"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("call", "reason", "says"),
    [
        ((PROCESS_FRAME, None, None, {}), "schema", "got arguments NoneType None"),
        ((PROCESS_FRAME, None, 7, {}), "schema", "got arguments int 7"),
        ((PROCESS_FRAME, None, [b"x"], 5), "schema", "and keywords int 5"),
        ((PROCESS_FRAME, None, [b"x"], {1: 2, "a": 3}), "schema", "keywords dict {"),
        ((deep(1000), None, [b"x"], {}), "foreign_job", "got [[[[...]]]]: refused"),
        (("x" * 5_000_000, None, [b"x"], {}), "foreign_job", "got 'xxxxxxxx"),
    ],
    ids=["args None", "args an int", "keywords an int", "keywords of mixed types",
         "function 1000 deep", "function of 5 MB"],
)  # fmt: skip
def test_any_job_call_gets_an_answer_and_the_worker_goes_on(
    call: tuple[object, ...],
    reason: str,
    says: str,
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    """Found by tests/fuzz: job data that msgpack reads but that is not a plain call with
    one argument (a TypeError, a RecursionError) stopped the worker."""
    hostile = rq_queue.enqueue_call(PROCESS_FRAME, args=(b"replaced below",))
    redis_conn.hset(hostile.key, "data", msgpack.packb(call, use_bin_type=True))
    good_id = submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-good"))
    worker.work(burst=True)

    assert redis_conn.hget(hostile.key, "status") == JobStatus.FAILED.value.encode()
    error = failure_of(fetch(hostile.id, redis_conn))
    assert says in error and "expected" in error
    assert len(error.splitlines()[-1]) < 400  # the message, however big the call
    assert read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA).failed == {reason: 1}
    assert fetch(good_id, redis_conn).get_status() == JobStatus.FINISHED


def test_a_burst_of_mixed_jobs_settles_every_count(
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    """Producers count ``submitted``, workers the rest: after a burst the two sides agree."""
    frames = [
        scene_frame(fer_data_dir, camera_id="cam-mix", frame_number=n, seed=n) for n in range(3)
    ]
    stale = scene_frame(fer_data_dir, "cam-mix", 3, captured_at=time.time() - 60)
    truncated = Frame(
        camera_id="cam-mix",
        frame_number=4,
        captured_at=time.time(),
        image=frames[0].image[:1000],
        width=640,
        height=480,
    )
    for frame in [*frames, stale, truncated]:
        submitter.enqueue(frame)
    worker.work(burst=True)

    counts = read_counts(redis_conn, settings.key_prefix, "cam-mix")
    assert counts.submitted == counts.settled == 5
    assert (counts.processed, counts.dropped, counts.failed) == (3, {"stale": 1}, {"truncated": 1})
    history = read_history(redis_conn, settings.key_prefix, "cam-mix")
    assert sorted(r.frame_number for _, r in history) == [0, 1, 2]


def test_a_batch_past_its_time_limit_fails_its_frames_and_the_worker_goes_on(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
    frame_pipeline: FramePipeline,
    batch_settings: Callable[..., None],
) -> None:
    """RQ's job timeout bounds a batch: its frames fail as ``timeout``, counted, and the
    worker serves the next batch."""
    worker.pipeline = FramePipeline(
        SlowDetector(frame_pipeline.detector, pause=1.5),
        frame_pipeline.classifier,
        frame_pipeline.settings,
        frame_pipeline.worker_id,
    )
    batch_settings(batch_max_frames=2)
    payloads = [
        scene_frame(fer_data_dir, camera_id="cam-slow", frame_number=n, seed=n).encode()
        for n in range(3)
    ]
    limited = [rq_queue.enqueue_call(PROCESS_FRAME, args=(p,), timeout=1).id for p in payloads[:2]]
    unlimited = rq_queue.enqueue_call(PROCESS_FRAME, args=(payloads[2],)).id
    worker.work(burst=True)

    for job_id in limited:
        job = fetch(job_id, redis_conn)
        assert job.get_status() == JobStatus.FAILED
        assert "JobTimeoutException" in failure_of(job)
    assert fetch(unlimited, redis_conn).get_status() == JobStatus.FINISHED
    counts = read_counts(redis_conn, settings.key_prefix, "cam-slow")
    assert (counts.processed, counts.failed) == (1, {"timeout": 2})
