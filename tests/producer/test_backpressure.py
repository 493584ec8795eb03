"""Bounded pending frames per camera: each overflow policy, fairness, exact accounting."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis
from rq import Queue
from rq.job import Job

from common.accounting import read_counts, take_pending
from common.keys import pending_list
from common.metrics import worker_metrics
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame
from producer.frames import CapturedFrame
from producer.submit import FrameSubmitter
from worker.pipeline import FramePipeline
from worker.rqworker import FerWorker

BOUND = 3


def fresh_frame() -> CapturedFrame:
    image = np.random.default_rng(1).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    return CapturedFrame(image, time.time(), {})


def submit_many(submitter: FrameSubmitter, camera: str, count: int) -> list[str | None]:
    return [
        submitter.submit(camera, n, fresh_frame(), jpeg_quality=80, max_side=640)
        for n in range(count)
    ]


def queued_frame_numbers(connection: redis.Redis[bytes], queue: Queue, camera: str) -> list[int]:
    numbers = []
    for job_id in queue.get_job_ids():
        frame = Frame.decode(
            Job.fetch(job_id, connection=connection, serializer=MsgpackSerializer).args[0]
        )
        if frame.camera_id == camera:
            numbers.append(frame.frame_number)
    return numbers


@pytest.mark.parametrize(
    ("policy", "kept", "returned_none"),
    [
        ("drop_oldest", [7, 8, 9], 0),  # the freshest frames win
        ("drop_new", [0, 1, 2], 7),  # the queue keeps what it had
    ],
)
def test_a_full_camera_drops_by_its_policy_and_counts_every_drop(
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    rq_queue: Queue,
    policy: str,
    kept: list[int],
    returned_none: int,
) -> None:
    bounded = settings.with_changes(max_pending_per_camera=BOUND, overflow_policy=policy)
    results = submit_many(FrameSubmitter(redis_conn, bounded), "door", 10)

    assert queued_frame_numbers(redis_conn, rq_queue, "door") == kept
    assert results.count(None) == returned_none
    counts = read_counts(redis_conn, bounded.key_prefix, "door")
    assert counts.submitted == 10
    assert counts.dropped == {"queue_full": 7}
    assert counts.submitted == counts.settled + len(kept)  # nothing lost silently
    dropped_ids = [r for r in results if r is not None][: 10 - len(kept) - returned_none]
    assert all(not redis_conn.exists(Job.key_for(job_id)) for job_id in dropped_ids)


def test_bounds_are_per_camera(
    redis_conn: redis.Redis[bytes], settings: Settings, rq_queue: Queue
) -> None:
    bounded = settings.with_changes(max_pending_per_camera=BOUND)
    submitter = FrameSubmitter(redis_conn, bounded)
    submit_many(submitter, "busy", 12)
    submit_many(submitter, "quiet", 2)

    assert queued_frame_numbers(redis_conn, rq_queue, "busy") == [9, 10, 11]
    assert queued_frame_numbers(redis_conn, rq_queue, "quiet") == [0, 1]
    assert read_counts(redis_conn, bounded.key_prefix, "quiet").dropped == {}


def test_block_waits_for_a_worker_to_take_a_frame(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    bounded = settings.with_changes(
        max_pending_per_camera=2, overflow_policy="block", max_frame_age=30.0
    )
    submitter = FrameSubmitter(redis_conn, bounded)
    first, _second = submit_many(submitter, "gate", 2)
    outcome: list[str | None] = []
    blocked = threading.Thread(
        target=lambda: outcome.append(
            submitter.submit("gate", 2, fresh_frame(), jpeg_quality=80, max_side=640)
        )
    )
    blocked.start()
    time.sleep(0.3)
    assert blocked.is_alive() and not outcome  # still waiting for room

    assert first is not None
    take_pending(redis_conn, bounded.key_prefix, "gate", first)  # what a worker does at start
    blocked.join(timeout=10)
    assert outcome and outcome[0] is not None
    assert redis_conn.llen(pending_list(bounded.key_prefix, "gate")) == 2


def test_block_gives_up_after_the_frame_age_and_counts_the_drop(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    bounded = settings.with_changes(
        max_pending_per_camera=1, overflow_policy="block", max_frame_age=0.2
    )
    assert submit_many(FrameSubmitter(redis_conn, bounded), "stuck", 2)[1] is None
    assert read_counts(redis_conn, bounded.key_prefix, "stuck").dropped == {"queue_full": 1}


@pytest.mark.slow
def test_a_fast_camera_does_not_starve_a_slow_one_and_the_accounts_balance(
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    rq_queue: Queue,
    frame_pipeline: FramePipeline,
) -> None:
    bounded = settings.with_changes(max_pending_per_camera=BOUND, max_frame_age=60.0)
    submitter = FrameSubmitter(redis_conn, bounded)
    for n in range(30):  # a 30 fps camera floods the queue; a 2 fps one sends now and then
        submitter.submit("fast", n, fresh_frame(), jpeg_quality=80, max_side=640)
        if n % 15 == 14:
            submitter.submit("slow", n // 15, fresh_frame(), jpeg_quality=80, max_side=640)

    worker = FerWorker(
        [rq_queue],
        settings=bounded,
        pipeline=frame_pipeline,
        metrics=worker_metrics(),
        connection=redis_conn,
    )
    worker.work(burst=True)

    slow = read_counts(redis_conn, bounded.key_prefix, "slow")
    fast = read_counts(redis_conn, bounded.key_prefix, "fast")
    assert (slow.submitted, slow.processed) == (2, 2)
    assert fast.processed == BOUND and fast.dropped == {"queue_full": 30 - BOUND}
    for counts in (slow, fast):
        assert counts.submitted == counts.settled
        assert redis_conn.llen(pending_list(bounded.key_prefix, counts.camera_id)) == 0
