"""Frames Redis accepted and then lost (a restart without persistence here; a failover
in tests/faults/test_sentinel_failover.py) are counted failed:broker_lost by their
producer, so the books stay whole; a count that only grew is never a loss."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from common.accounting import read_counts
from common.connection import connect
from common.settings import Settings
from producer.frames import CapturedFrame
from producer.submit import FrameSubmitter
from producer.tally import BROKER_LOST
from tests.faults.harness import RedisProcess

CAMERA = "cam-t"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisProcess]:
    made = RedisProcess(tmp_path, appendonly=False).start()
    yield made
    made.kill()


def frame() -> CapturedFrame:
    image = np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    return CapturedFrame(image, time.time(), {})


def submit(submitter: FrameSubmitter, count: int) -> None:
    for number in range(count):
        submitter.submit(CAMERA, number, frame(), jpeg_quality=80, max_side=64)


def test_frames_a_restart_lost_are_counted_broker_lost(server: RedisProcess) -> None:
    settings = Settings(redis_url=server.url, max_pending_per_camera=100)
    submitter = FrameSubmitter(connect(server.url), settings)
    submit(submitter, 5)
    server.kill()
    server.start()  # no persistence: the server forgot the five frames and their counts

    submit(submitter, 2)

    counts = read_counts(server.client(), settings.key_prefix, CAMERA)
    assert counts.submitted == 7
    assert counts.failed == {BROKER_LOST: 5}
    assert submitter.tally.lost == {CAMERA: 5}


def test_a_count_that_grew_elsewhere_is_taken_as_the_new_mark(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    submitter = FrameSubmitter(redis_conn, settings.with_changes(max_pending_per_camera=100))
    other = FrameSubmitter(redis_conn, settings.with_changes(max_pending_per_camera=100))
    submit(submitter, 2)
    submit(other, 3)  # a second producer of the same camera
    submit(submitter, 2)

    counts = read_counts(redis_conn, settings.key_prefix, CAMERA)
    assert (counts.submitted, counts.failed) == (7, {})
    assert submitter.tally.lost == {} and other.tally.lost == {}
