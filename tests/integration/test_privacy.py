"""No face at rest (privacy ``strict``): after a run, no key of Redis holds an image.

A real ``FerWorker`` with the shipped model serves, on the real Redis, every kind of
frame job a deployment sees: good frames (finished jobs kept a minute, so RQ saves
them), a stale frame, every bad frame of ``tests.worker.bad_jobs`` (failed jobs, kept
for their failure TTL), a foreign job carrying a JPEG, a frame started by a worker that
died (settled by the registry sweep as abandoned) and one taken but never started
(failed by RQ's sweep as stuck). Then ``SCAN`` reads every key and every value of every
type (strings, hashes, lists, sets, sorted sets, streams; zlib-inflated too, as RQ
compresses job data) for JPEG and PNG signatures. Under strict privacy only a frame
still waiting may hold one, with a TTL of at most max age + the margin, and after that
TTL nothing does. With privacy off the same run leaves images in failed jobs: the scan
finds what it looks for.
"""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker

from common.accounting import read_counts
from common.defaults import PRIVACY_FRAME_TTL_MARGIN_SECONDS
from common.keys import pending_list
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from producer.encoding import encode_jpeg
from producer.submit import FrameSubmitter
from tests.worker import BAD_CAMERA, PNG_SIGNATURE, bad_jobs, scene_frame, textured_image
from worker import batch
from worker.jobs import PROCESS_FRAME
from worker.rqworker import FerWorker

JPEG_SIGNATURE = b"\xff\xd8\xff"
# the same, as a repr writes them (RQ's default description of a call is its repr)
SIGNATURES_AS_TEXT = (b"\\xff\\xd8\\xff", b"\\x89PNG")
MAX_FRAME_AGE = 3.0  # the good frames stay fresh on a loaded machine
GOOD_CAMERA, LOST_CAMERA, WAITING_CAMERA = "cam-good", "cam-lost", "cam-waiting"


def values_of(connection: redis.Redis[bytes], key: bytes) -> Iterator[bytes]:
    """Every byte string stored under ``key``, whatever its type (names and values)."""
    kind = connection.type(key).decode()
    if kind == "string":
        yield connection.get(key) or b""
    elif kind == "hash":
        for field, value in connection.hgetall(key).items():
            yield from (field, value)
    elif kind == "list":
        yield from connection.lrange(key, 0, -1)
    elif kind == "set":
        yield from connection.smembers(key)
    elif kind == "zset":
        yield from (member for member, _ in connection.zrange(key, 0, -1, withscores=True))
    elif kind == "stream":
        for _, fields in connection.xrange(key):
            for field, value in fields.items():
                yield from (field, value)
    elif kind != "none":  # expired between SCAN and TYPE
        raise AssertionError(f"key {key!r} has a type the scan does not read: {kind}")


def holds_image(value: bytes) -> bool:
    readings = [value]
    with contextlib.suppress(zlib.error):
        readings.append(zlib.decompress(value))
    signatures = (JPEG_SIGNATURE, PNG_SIGNATURE, *SIGNATURES_AS_TEXT)
    return any(signature in each for each in readings for signature in signatures)


def keys_with_images(connection: redis.Redis[bytes]) -> list[str]:
    """Every key whose name or any stored value holds JPEG or PNG bytes."""
    found = []
    for key in connection.scan_iter(count=1000):
        if holds_image(key) or any(holds_image(each) for each in values_of(connection, key)):
            found.append(key.decode())
    return sorted(found)


def die_holding(worker: FerWorker, queue: Queue, connection: redis.Redis[bytes]) -> str:
    """A batch a worker took and started, then died with: its executions expire now."""
    dying = FerWorker(
        [queue],
        settings=worker.settings,
        pipeline=worker.pipeline,
        metrics=worker.metrics,
        connection=connection,
    )
    found = Queue.dequeue_any(
        [queue], None, connection=connection, job_class=FrameJob, serializer=MsgpackSerializer
    )
    assert found is not None
    job, _ = found
    taken = batch.FrameBatch([batch.Member(job, queue, batch.frame_of(job))])
    batch.start(taken, connection, worker.settings, dying)  # then the process is killed
    registry = queue.started_job_registry
    for member in connection.zrange(registry.key, 0, -1):
        connection.zadd(registry.key, {member: 1})  # its heartbeat ran out long ago
    return str(job.id)


def take_and_forget(queue: Queue, connection: redis.Redis[bytes]) -> str:
    """A job a worker took off the queue and died before starting: seen stuck an hour ago."""
    found = Queue.dequeue_any(
        [queue], None, connection=connection, job_class=FrameJob, serializer=MsgpackSerializer
    )
    assert found is not None
    job_id = str(found[0].id)
    connection.set(queue.intermediate_queue.get_first_seen_key(job_id), time.time() - 3600)
    return job_id


def run_every_kind_of_job(
    worker: FerWorker,
    queue: Queue,
    connection: redis.Redis[bytes],
    settings: Settings,
    data_dir: Path,
) -> FrameSubmitter:
    """Serve good, stale, bad, foreign, abandoned and stuck frame jobs; leave one waiting."""
    submitter = FrameSubmitter(connection, settings)
    submitter.enqueue(scene_frame(data_dir, LOST_CAMERA, 0, seed=4))
    die_holding(worker, queue, connection)
    submitter.enqueue(scene_frame(data_dir, LOST_CAMERA, 1, seed=5))
    take_and_forget(queue, connection)
    for bad in bad_jobs():
        queue.enqueue_call(PROCESS_FRAME, args=(bad.payload,), failure_ttl=600)
    jpeg = encode_jpeg(textured_image(), 85)
    queue.enqueue_call("os.system", args=(jpeg,), failure_ttl=600)
    submitter.enqueue(scene_frame(data_dir, GOOD_CAMERA, 0, captured_at=time.time() - 60))
    for number in range(1, 4):
        submitter.enqueue(scene_frame(data_dir, GOOD_CAMERA, number, seed=number))
    worker.work(burst=True)
    worker.clean_registries()  # the dead worker's frame: abandoned; the stuck one: failed
    submitter.enqueue(scene_frame(data_dir, WAITING_CAMERA, 0))  # no worker reaches it
    return submitter


def kept_settings(settings: Settings, privacy: str) -> Settings:
    """Finished jobs kept a minute (RQ saves them), room for every frame, a short max age."""
    return settings.with_changes(
        privacy=privacy,
        job_result_ttl=60,
        max_pending_per_camera=100,
        max_frame_age=MAX_FRAME_AGE,
    )


def assert_every_frame_counted(connection: redis.Redis[bytes], settings: Settings) -> None:
    for camera in (GOOD_CAMERA, LOST_CAMERA, WAITING_CAMERA):
        counts = read_counts(connection, settings.key_prefix, camera)
        pending = connection.llen(pending_list(settings.key_prefix, camera))
        assert counts.submitted == counts.settled + pending, counts
    lost = read_counts(connection, settings.key_prefix, LOST_CAMERA)
    assert lost.failed == {"abandoned": 2}
    good = read_counts(connection, settings.key_prefix, GOOD_CAMERA)
    assert good.processed >= 1 and good.dropped["stale"] >= 1  # fresh ones: late if loaded
    assert good.processed + good.dropped["stale"] == 4
    assert read_counts(connection, settings.key_prefix, BAD_CAMERA).failed


def test_strict_privacy_leaves_no_image_in_redis_after_the_frame_ttl(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    strict = kept_settings(settings, "strict")
    worker.settings = strict
    run_every_kind_of_job(worker, rq_queue, redis_conn, strict, fer_data_dir)

    assert_every_frame_counted(redis_conn, strict)
    frame_ttl = math.ceil(MAX_FRAME_AGE) + PRIVACY_FRAME_TTL_MARGIN_SECONDS
    assert strict.queued_job_ttl == frame_ttl
    [waiting] = keys_with_images(redis_conn)  # only the frame no worker reached
    assert waiting.startswith("rq:job:")
    assert 0 < redis_conn.ttl(waiting) <= frame_ttl
    assert len(rq_queue.failed_job_registry) >= len(bad_jobs()) + 3  # kept, with reasons

    deadline = time.monotonic() + frame_ttl + 2
    while keys_with_images(redis_conn) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert keys_with_images(redis_conn) == []


def test_failed_and_abandoned_jobs_keep_their_reason_not_their_image(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    strict = kept_settings(settings, "strict")
    worker.settings = strict
    run_every_kind_of_job(worker, rq_queue, redis_conn, strict, fer_data_dir)

    registry = rq_queue.failed_job_registry
    jobs = FrameJob.fetch_many(
        registry.get_job_ids(), connection=redis_conn, serializer=MsgpackSerializer
    )
    reasons = []
    for job in jobs:
        assert job is not None
        assert list(job.args) == []  # the call is kept, its frame is not
        assert job.description and "bytes" not in job.description
        result = job.latest_result()
        assert result is not None and result.exc_string
        reasons.append(result.exc_string)
    assert any("AbandonedJobError" in reason for reason in reasons)
    assert any("stuck in intermediate queue" in reason for reason in reasons)
    assert any("truncated" in reason for reason in reasons)
    assert any("os.system" in reason for reason in reasons)  # the refused function, named


def test_without_strict_privacy_failed_jobs_keep_their_image(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    """The scan's control: as before issue 14, RQ keeps a failed frame's JPEG."""
    kept = kept_settings(settings, "off")
    worker.settings = kept
    run_every_kind_of_job(worker, rq_queue, redis_conn, kept, fer_data_dir)

    found = set(keys_with_images(redis_conn))
    failed = {f"rq:job:{job_id}" for job_id in rq_queue.failed_job_registry.get_job_ids()}
    assert len(failed & found) >= 5  # bad frames, the foreign job, the lost frames


@pytest.mark.usefixtures("rq_worker_env")
def test_rqs_own_worker_under_strict_privacy_keeps_no_image_either(
    monkeypatch: pytest.MonkeyPatch,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    """``worker.jobs.process_frame`` run by RQ's ``SimpleWorker`` takes the same start."""
    monkeypatch.setenv("FERSTREAM_PRIVACY", "strict")
    monkeypatch.setenv("FERSTREAM_MAX_FRAME_AGE", str(MAX_FRAME_AGE))
    strict = kept_settings(settings, "strict")
    submitter = FrameSubmitter(redis_conn, strict)
    submitter.enqueue(scene_frame(fer_data_dir, GOOD_CAMERA, 0))
    for bad in bad_jobs()[3:6]:  # truncated, too large, over the pixel limit
        rq_queue.enqueue_call(PROCESS_FRAME, args=(bad.payload,), failure_ttl=600)
    rqs_own = SimpleWorker(
        [rq_queue], connection=redis_conn, serializer=MsgpackSerializer, job_class=FrameJob
    )

    rqs_own.work(burst=True)

    assert len(rq_queue.failed_job_registry) == 3
    assert read_counts(redis_conn, strict.key_prefix, GOOD_CAMERA).processed == 1
    assert keys_with_images(redis_conn) == []
