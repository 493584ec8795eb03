"""Each role works under its own ACL user, on a real redis-server 7, in plain text and over
TLS; each is refused what its role must not do, with an error that names the user and
the refused command and carries no password; Redis's ACL log stays empty while each role
does its job (nothing the real code sends is refused)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from rq import Queue, SimpleWorker

from common.accounting import read_counts
from common.acl import PRODUCER, READER, TRACKER, WORKER
from common.connection import connect
from common.errors import AccessDenied
from common.keys import counts_hash, results_channel, results_stream
from common.metrics import TrackMetrics, worker_metrics
from common.results import TRACKS, follow, read_feed, read_history
from common.rqjob import FrameJob
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame, Result
from producer.encoding import encode_jpeg
from producer.motion import MotionSequence
from producer.submit import FrameSubmitter
from tests.security.servers import Passwords, SecureRedis
from tests.worker import scene_frame
from tracking.service import TrackService, TrackServiceConfig
from worker import bookkeeping
from worker.guidance import GuidancePolicy
from worker.pipeline import FramePipeline
from worker.reaping import reap
from worker.rqworker import FerWorker

CAMERA = "door"


@pytest.fixture(params=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> SecureRedis:
    """The ACL server, plain text and TLS-only (``rediss://``, verified)."""
    fixture = "acl_redis" if request.param == "plain" else "tls_redis"
    found: SecureRedis = request.getfixturevalue(fixture)
    return found


@pytest.fixture
def clients(server: SecureRedis) -> Iterator[dict[str, redis.Redis[bytes]]]:
    """One connected client per role on ``server``, each logged in as its own user."""
    made = role_clients(server)
    yield made
    for client in made.values():
        client.close()


def role_clients(server: SecureRedis) -> dict[str, redis.Redis[bytes]]:
    return {role: connect(server.access(role)) for role in (PRODUCER, WORKER, TRACKER, READER)}


def frames(data_dir: Path, count: int) -> list[Frame]:
    good = [scene_frame(data_dir, CAMERA, n, seed=n) for n in range(count)]
    truncated = Frame(
        camera_id=CAMERA,
        frame_number=count,
        captured_at=time.time(),
        image=good[0].image[:1000],
        width=640,
        height=480,
    )
    return [*good, truncated]


def fer_worker(
    connection: redis.Redis[bytes], settings: Settings, pipeline: FramePipeline
) -> FerWorker:
    queue = Queue(
        settings.queue_name, connection=connection, serializer=MsgpackSerializer, job_class=FrameJob
    )
    return FerWorker(
        [queue],
        settings=settings,
        pipeline=pipeline,
        metrics=worker_metrics(),
        connection=connection,
    )


def test_each_role_does_its_job_under_its_own_user(
    server: SecureRedis,
    clients: dict[str, redis.Redis[bytes]],
    frame_pipeline: FramePipeline,
    fer_data_dir: Path,
) -> None:
    settings = Settings(redis_url=server.url, max_pending_per_camera=100)
    live = clients[READER].pubsub()
    live.subscribe(results_channel(settings.key_prefix, CAMERA))
    submitter = FrameSubmitter(clients[PRODUCER], settings)
    for frame in frames(fer_data_dir, 3):
        assert submitter.enqueue(frame) is not None

    fer_worker(clients[WORKER], settings, frame_pipeline).work(burst=True)

    reader = clients[READER]
    history = read_history(reader, settings.key_prefix, CAMERA)
    assert sorted(result.frame_number for _, result in history) == [0, 1, 2]
    counts = read_counts(reader, settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.processed, counts.failed) == (4, 3, {"truncated": 1})
    published = [live.get_message(timeout=1.0) for _ in range(4)]  # subscribe ack + 3 results
    messages = [m for m in published if m is not None and m["type"] == "message"]
    numbers = [Result.decode(m["data"]).frame_number for m in messages]
    assert sorted(numbers) == [0, 1, 2]
    live.close()
    assert server.acl_log() == []


def test_tracks_are_made_guided_and_read_each_under_its_own_user(
    acl_redis: SecureRedis, frame_pipeline: FramePipeline, fer_data_dir: Path
) -> None:
    """The track service as ``tracker`` (results read, tracks, hints and its lease
    written), a guided worker as ``worker`` (hints read in its batches), ``reader``
    reading the tracks."""
    settings = Settings(redis_url=acl_redis.url, max_pending_per_camera=100)
    clients = role_clients(acl_redis)
    submitter = FrameSubmitter(clients[PRODUCER], settings)
    guided = FramePipeline(
        frame_pipeline.detector,
        frame_pipeline.classifier,
        settings,
        "guided",
        guidance=GuidancePolicy(full_every=10),
    )
    tracks = TrackService(
        clients[TRACKER],
        TrackServiceConfig.from_settings(settings),
        TrackMetrics.create(CollectorRegistry()),
    )
    moving = MotionSequence(fer_data_dir, 4.0, seed=1, actors=1)
    for number in range(8):
        image, _ = moving.frame_at(number * 0.2)
        jpeg = encode_jpeg(image, 85)
        frame = Frame(CAMERA, number, time.time(), jpeg, image.shape[1], image.shape[0])
        submitter.enqueue(frame)
        fer_worker(clients[WORKER], settings, guided).work(burst=True)
        for _ in range(3):
            tracks.step()
    deadline = time.monotonic() + 3.0
    while tracks.published < 7 and time.monotonic() < deadline:
        tracks.step()
    tracks.release_all()
    published = read_feed(clients[READER], TRACKS, settings.key_prefix, CAMERA)
    assert len(published) >= 7
    assert any(message.tracks for _, message in published)
    assert acl_redis.acl_log() == []


def test_rqs_own_worker_runs_frame_jobs_as_the_worker_user(
    acl_redis: SecureRedis,
    fer_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``worker.jobs.process_frame`` under RQ's ``SimpleWorker``: RQ's own bookkeeping
    (one job at a time, its registries and results) fits the worker's ACL too."""
    monkeypatch.setenv("REDIS_URL", acl_redis.url)
    settings = Settings(redis_url=acl_redis.url, max_pending_per_camera=100)
    clients = role_clients(acl_redis)
    submitter = FrameSubmitter(clients[PRODUCER], settings)
    for frame in frames(fer_data_dir, 2):
        submitter.enqueue(frame)
    queue = Queue(settings.queue_name, connection=clients[WORKER], serializer=MsgpackSerializer)
    SimpleWorker([queue], connection=clients[WORKER], serializer=MsgpackSerializer).work(burst=True)
    counts = read_counts(clients[READER], settings.key_prefix, CAMERA)
    assert (counts.processed, counts.failed) == (2, {"truncated": 1})
    assert acl_redis.acl_log() == []


def test_a_dead_workers_frames_are_settled_under_the_worker_user(
    acl_redis: SecureRedis, frame_pipeline: FramePipeline, fer_data_dir: Path
) -> None:
    """The crash path: a worker takes and starts frames, dies; its pool reaps it
    (``worker.reaping``) and a live worker's registry sweep settles the frames as
    ``failed:abandoned``: every step as the ``worker`` user."""
    settings = Settings(redis_url=acl_redis.url, max_pending_per_camera=100)
    clients = role_clients(acl_redis)
    submitter = FrameSubmitter(clients[PRODUCER], settings)
    for frame in frames(fer_data_dir, 2)[:2]:
        submitter.enqueue(frame)
    dying = fer_worker(clients[WORKER], settings, frame_pipeline)
    dying.register_birth()  # type: ignore[no-untyped-call]
    taken = bookkeeping.take_waiting(dying, 2)
    bookkeeping.start(dying, taken, also=lambda pipeline: None)  # then it is killed

    assert reap(clients[WORKER], settings, dying.name) == 2
    fer_worker(clients[WORKER], settings, frame_pipeline).clean_registries()

    counts = read_counts(clients[READER], settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.failed) == (2, {"abandoned": 2})
    assert acl_redis.acl_log() == []


# -- what each role is refused -----------------------------------------------------------


def raw(*command: str) -> Callable[[redis.Redis[bytes]], object]:
    return lambda client: client.execute_command(*command)


def script(body: str, *keys: str) -> Callable[[redis.Redis[bytes]], object]:
    """Load a script (a producer may: its trim is one), then run it."""

    def attempt(client: redis.Redis[bytes]) -> object:
        sha = client.script_load(body)
        return client.evalsha(sha, len(keys), *keys)

    return attempt


def subscribe(channel: str, pattern: bool = False) -> Callable[[redis.Redis[bytes]], object]:
    """Subscribe, then read the answer (redis-py only sends the SUBSCRIBE)."""

    def attempt(client: redis.Redis[bytes]) -> object:
        listener = client.pubsub()
        if pattern:
            listener.psubscribe(channel)
        else:
            listener.subscribe(channel)
        return listener.get_message(timeout=1.0)

    return attempt


STREAM = results_stream("ferstream", CAMERA)
CHANNEL = results_channel("ferstream", CAMERA)
REFUSED = [
    # a producer cannot read results, nor flush, administer or read another frame's job
    (PRODUCER, "xrange", lambda c: read_history(c, "ferstream", CAMERA)),
    (PRODUCER, "xread", lambda c: next(follow(c, "ferstream", [CAMERA], block_ms=10))),
    (PRODUCER, "subscribe", subscribe(CHANNEL)),
    (PRODUCER, "flushdb", raw("FLUSHDB")),
    (PRODUCER, "flushall", raw("FLUSHALL")),
    (PRODUCER, "keys", raw("KEYS", "*")),
    (PRODUCER, "config", raw("CONFIG", "GET", "requirepass")),
    (PRODUCER, "acl", raw("ACL", "LIST")),
    (PRODUCER, "hgetall", raw("HGETALL", "rq:job:another-camera-frame")),
    # ... not even from inside a script: a script runs with its caller's ACL
    (PRODUCER, "evalsha", script("return redis.call('FLUSHALL')")),
    (PRODUCER, "evalsha", script("return redis.call('HGETALL', KEYS[1])", "ferstream:counts:a")),
    # ... nor read the job hashes it may write (write-only keys)
    (PRODUCER, "lpop", raw("LPOP", "rq:job:another-camera-frame")),
    (PRODUCER, "publish", raw("PUBLISH", CHANNEL, "forged")),
    (PRODUCER, "xadd", raw("XADD", STREAM, "*", "result", "forged")),
    # a reader cannot enqueue, publish, count or delete anything
    (READER, "rpush", lambda c: FrameSubmitter(c, Settings()).enqueue(_frame())),
    (READER, "xadd", raw("XADD", STREAM, "*", "result", "forged")),
    (READER, "publish", raw("PUBLISH", CHANNEL, "forged")),
    (READER, "hincrby", raw("HINCRBY", counts_hash("ferstream", CAMERA), "processed", "1")),
    (READER, "del", raw("DEL", STREAM)),
    (READER, "flushdb", raw("FLUSHDB")),
    (READER, "hgetall", raw("HGETALL", "rq:job:any")),
    # a worker cannot flush, configure, administer, or read results back
    (WORKER, "flushall", raw("FLUSHALL")),
    (WORKER, "config", raw("CONFIG", "SET", "appendonly", "no")),
    (WORKER, "acl", raw("ACL", "SETUSER", "worker", "+@all")),
    (WORKER, "keys", raw("KEYS", "*")),
    (WORKER, "xrange", raw("XRANGE", STREAM, "-", "+")),
    (WORKER, "client", raw("CLIENT", "LIST")),
    (WORKER, "shutdown", raw("SHUTDOWN", "NOSAVE")),
    (WORKER, "psubscribe", subscribe("*", pattern=True)),
]


def _frame() -> Frame:
    return Frame(CAMERA, 0, time.time(), b"\xff\xd8\xff\xd9", 1, 1)


@pytest.mark.parametrize(
    ("role", "command", "attempt"), REFUSED, ids=[f"{r}-{c}" for r, c, _ in REFUSED]
)
def test_each_role_is_refused_what_it_must_not_do(
    acl_redis: SecureRedis,
    passwords: Passwords,
    role: str,
    command: str,
    attempt: Callable[[redis.Redis[bytes]], object],
) -> None:
    client = connect(acl_redis.access(role))
    with pytest.raises((AccessDenied, redis.ResponseError)) as caught:
        attempt(client)
    message = str(caught.value)
    if isinstance(caught.value, AccessDenied):  # the project's own boundary names the user
        assert f"Redis refused user {role!r}" in message and "ferstream acl" in message
    for secret in passwords.all():
        assert secret not in message and secret not in repr(caught.value)
    refused = [entry for entry in acl_redis.acl_log() if entry["username"] == role]
    assert refused, f"expected Redis to log the refusal, got {message}"
    assert {entry["reason"] for entry in refused} <= {"command", "key", "channel"}
    if command == "evalsha":  # refused inside the script: it ran with the producer's ACL
        assert {entry["context"] for entry in refused} == {"lua"}
    assert acl_redis.client().ping()  # nothing was flushed or shut down


@pytest.mark.parametrize("role", [PRODUCER, WORKER, READER])
def test_a_wrong_password_is_access_denied_without_any_password(
    acl_redis: SecureRedis, passwords: Passwords, role: str
) -> None:
    wrong = passwords.roles[READER if role != READER else PRODUCER]  # another role's
    with pytest.raises(AccessDenied) as caught:
        connect(acl_redis.access(role, password=wrong))
    message = str(caught.value)
    assert f"refused user {role!r}" in message
    assert "127.0.0.1" in message
    for secret in passwords.all():
        assert secret not in message and secret not in repr(caught.value)
