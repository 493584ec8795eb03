"""Results mode ``aggregate``: per camera, emotion counts per window, published only when
at least k faces were seen in the window; no per-face result anywhere.

Real scene frames through a real ``FerWorker`` (the shipped model) on the real Redis.
Frames are captured in two past windows (a long max age keeps them fresh), the worker
counts their faces, then the windows are closed as a sweep would once they are due.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from rq import Queue

from common.errors import SchemaError
from common.keys import aggregate_channel, results_stream, window_hash
from common.metrics import WorkerMetrics
from common.results import read_aggregates
from common.settings import Settings
from common.wire import EMOTIONS, Aggregate
from producer.submit import FrameSubmitter
from tests.worker import scene_frame
from worker import aggregation
from worker.rqworker import FerWorker

CAMERA = "cam-crowd"
WINDOW = 10


def test_only_windows_with_at_least_k_faces_are_published(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    aggregating = settings.with_changes(
        results_mode="aggregate",
        aggregate_window=WINDOW,
        max_frame_age=300.0,
        max_pending_per_camera=100,
    )
    worker.settings = aggregating
    now = time.time()
    busy = aggregation.window_start(now - 100, WINDOW)  # four frames in one window
    quiet = aggregation.window_start(now - 200, WINDOW)  # one frame in another
    submitter = FrameSubmitter(redis_conn, aggregating)
    for number in range(4):
        captured = busy + 1 + number
        submitter.enqueue(scene_frame(fer_data_dir, CAMERA, number, number, captured))
    submitter.enqueue(scene_frame(fer_data_dir, CAMERA, 4, seed=9, captured_at=quiet + 1))
    worker.work(burst=True)  # its settles close nothing yet: both windows are in their grace

    prefix = aggregating.key_prefix
    seen = {
        start: int(redis_conn.hget(window_hash(prefix, CAMERA, start), "faces") or 0)
        for start in (busy, quiet)
    }
    assert seen[busy] > seen[quiet]
    k = seen[quiet] + 1
    pubsub = redis_conn.pubsub()
    pubsub.subscribe(aggregate_channel(prefix, CAMERA))
    assert pubsub.get_message(timeout=2.0) is not None

    due = now + aggregating.aggregate_grace + WINDOW
    closing = aggregating.with_changes(aggregate_min_faces=k)
    assert aggregation.close_all_due(redis_conn, closing, now=due) == [(1, 1)]

    [(_, published)] = read_aggregates(redis_conn, prefix, CAMERA)
    assert (published.start, published.end) == (busy, busy + WINDOW)
    assert published.faces == seen[busy] >= k
    assert sum(published.counts) == published.faces and len(published.counts) == len(EMOTIONS)
    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
    assert message is not None and Aggregate.decode(message["data"]) == published
    assert not redis_conn.exists(window_hash(prefix, CAMERA, busy))
    assert not redis_conn.exists(window_hash(prefix, CAMERA, quiet))  # suppressed: gone
    assert aggregation.close_all_due(redis_conn, closing, now=due) == [(0, 0)]
    pubsub.close()


def test_no_per_face_result_is_published_or_counted_by_emotion(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    aggregating = settings.with_changes(
        results_mode="aggregate", max_pending_per_camera=100, max_frame_age=30.0
    )
    worker.settings = aggregating
    registry = CollectorRegistry()
    worker.metrics = WorkerMetrics.create(registry)
    camera = "cam-private"
    submitter = FrameSubmitter(redis_conn, aggregating)
    for number in range(3):
        submitter.enqueue(scene_frame(fer_data_dir, camera, number, seed=number))

    worker.work(burst=True)

    assert not redis_conn.exists(results_stream(aggregating.key_prefix, camera))
    for emotion in EMOTIONS:
        labels = {"camera": camera, "emotion": emotion}
        assert registry.get_sample_value("ferstream_faces_by_emotion_total", labels) is None
    assert registry.get_sample_value("ferstream_frames_processed_total", {"camera": camera}) == 3


GOOD_AGGREGATE = {
    "camera_id": "cam-1", "start": 100, "end": 110, "faces": 6,
    "counts": (1, 0, 0, 5, 0, 0, 0), "published_at": 200.0,
}  # fmt: skip


def test_an_aggregate_survives_the_wire() -> None:
    aggregate = Aggregate(**GOOD_AGGREGATE)  # type: ignore[arg-type]
    assert Aggregate.decode(aggregate.encode()) == aggregate


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"faces": 7}, "Aggregate.counts: expected 7 ints >= 0 summing to faces=7"),
        ({"counts": (1, 0, 0, 5, 0, 0)}, "Aggregate.counts: expected 7 ints"),
        ({"counts": (1, 0, 0, 5, 0, 0, -0.5)}, "Aggregate.counts[6]: expected int >= 0"),
        ({"end": 100}, "Aggregate.end: expected int >= 101"),
        ({"camera_id": "a b"}, "Aggregate.camera_id"),
    ],
)
def test_a_malformed_aggregate_is_refused(change: dict[str, object], says: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(says)):
        Aggregate(**{**GOOD_AGGREGATE, **change})  # type: ignore[arg-type]
