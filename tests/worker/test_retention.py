"""Retention: results streams trimmed by age as well as length, counters and results
expiring after the retention, and the age of the oldest stored result exported.

Real frames through a real ``FerWorker`` on the real Redis, with a retention of a few
seconds so the test can wait it out.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from rq import Queue

from common import defaults
from common.keys import cameras_set, counts_hash, results_stream
from common.metrics import BrokerCollector
from common.results import read_history
from common.retention import min_stream_id
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.ferstream import stored_result
from tests.worker import scene_frame
from worker.publisher import publish_result
from worker.rqworker import FerWorker

RETENTION = 3
CAMERA = "cam-kept"


@pytest.fixture
def short_retention(worker: FerWorker, settings: Settings) -> Settings:
    kept = settings.with_changes(
        retention_seconds=RETENTION, max_pending_per_camera=100, max_frame_age=30.0
    )
    worker.settings = kept
    return kept


def serve(worker: FerWorker, submitter: FrameSubmitter, data_dir: Path, numbers: range) -> None:
    for number in numbers:
        submitter.enqueue(scene_frame(data_dir, CAMERA, number, seed=number))
    worker.work(burst=True)


@pytest.mark.parametrize(
    ("now", "retention", "expected"),
    [(1000.0, 10, "990000-0"), (1000.5, 1, "999500-0"), (5.0, 10, "0-0")],
)
def test_the_oldest_id_kept_is_the_retention_ago(now: float, retention: int, expected: str) -> None:
    assert min_stream_id(now, retention) == expected


@pytest.mark.parametrize(
    ("privacy", "retention_seconds", "expected"),
    [
        ("off", 0, 0),  # as before: kept as long as the stream's length allows
        ("strict", 0, defaults.DEFAULT_STRICT_RETENTION_SECONDS),
        ("strict", 60, 60),
        ("off", 60, 60),
    ],
)
def test_the_retention_follows_the_privacy_mode_unless_set(
    privacy: str, retention_seconds: int, expected: int
) -> None:
    chosen = Settings(privacy=privacy, retention_seconds=retention_seconds)
    assert chosen.results_retention == expected


def test_results_are_trimmed_by_age_as_well_as_length(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    """A result every 1.2 s with a retention of 2 s: the stream never expires, and each
    new result trims those older than 2 s (published as the worker's settle does)."""
    prefix, keep = settings.key_prefix, 2
    kept_after = {0: [0], 1: [0, 1], 2: [1, 2]}  # at 2.4 s, the result of 0 s is too old
    for number in range(3):
        if number:
            time.sleep(1.2)
        with redis_conn.pipeline() as pipeline:
            publish_result(pipeline, prefix, stored_result(CAMERA, number), 1000, keep)
            pipeline.execute()
        stored = [result.frame_number for _, result in read_history(redis_conn, prefix, CAMERA)]
        assert stored == kept_after[number]

    assert 0 < redis_conn.ttl(results_stream(prefix, CAMERA)) <= keep


def test_counters_and_results_expire_after_the_retention(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    short_retention: Settings,
    fer_data_dir: Path,
) -> None:
    prefix = short_retention.key_prefix
    keys = [counts_hash(prefix, CAMERA), results_stream(prefix, CAMERA), cameras_set(prefix)]
    serve(worker, FrameSubmitter(redis_conn, short_retention), fer_data_dir, range(2))
    for key in keys:
        assert 0 < redis_conn.ttl(key) <= RETENTION, key

    time.sleep(RETENTION + 0.5)

    assert [key for key in keys if redis_conn.exists(key)] == []


def test_without_a_retention_nothing_expires(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    serve(worker, FrameSubmitter(redis_conn, settings), fer_data_dir, range(1))
    prefix = settings.key_prefix
    for key in (counts_hash(prefix, CAMERA), results_stream(prefix, CAMERA)):
        assert redis_conn.ttl(key) == -1, key  # as before issue 14


def test_the_age_of_the_oldest_stored_result_is_exported(
    worker: FerWorker,
    rq_queue: Queue,
    redis_conn: redis.Redis[bytes],
    short_retention: Settings,
    fer_data_dir: Path,
) -> None:
    serve(worker, FrameSubmitter(redis_conn, short_retention), fer_data_dir, range(1))
    registry = CollectorRegistry()
    prefix = short_retention.key_prefix
    registry.register(BrokerCollector(redis_conn, [short_retention.queue_name], None, prefix))
    time.sleep(1.0)

    age = registry.get_sample_value("ferstream_oldest_result_age_seconds", {"camera": CAMERA})

    assert age is not None and 1.0 <= age < RETENTION
