"""Frames whose job expired unread are counted ``dropped:expired``, whatever the policy.

Strict privacy keeps a queued frame's job max age + 5 s only: a frame no worker reaches
by then is deleted by Redis. Here the TTL's deletion is done at once (``DEL``, which is
all an expiry does), on the real Redis, with a real worker where one takes part.
"""

from __future__ import annotations

import pytest
import redis
from rq import Queue
from rq.job import Job

from common.accounting import read_counts
from common.keys import pending_list
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.producer.test_backpressure import fresh_frame, submit_many
from worker.reaping import settle_expired
from worker.rqworker import FerWorker

BOUND = 2


def expire_all(connection: redis.Redis[bytes], job_ids: list[str | None]) -> None:
    for job_id in job_ids:
        assert job_id is not None
        connection.delete(Job.key_for(job_id))


def balance(connection: redis.Redis[bytes], settings: Settings, camera: str) -> tuple[int, int]:
    counts = read_counts(connection, settings.key_prefix, camera)
    pending = int(connection.llen(pending_list(settings.key_prefix, camera)))
    return counts.submitted, counts.settled + pending


@pytest.mark.parametrize("policy", ["drop_new", "block"])
def test_a_full_camera_whose_frames_expired_takes_new_ones(
    redis_conn: redis.Redis[bytes], settings: Settings, rq_queue: Queue, policy: str
) -> None:
    bounded = settings.with_changes(
        max_pending_per_camera=BOUND, overflow_policy=policy, max_frame_age=0.5
    )
    submitter = FrameSubmitter(redis_conn, bounded)
    expire_all(redis_conn, submit_many(submitter, "idle", BOUND))  # no worker came

    assert submitter.submit("idle", 9, fresh_frame(), jpeg_quality=80, max_side=640)

    counts = read_counts(redis_conn, bounded.key_prefix, "idle")
    assert (counts.submitted, counts.dropped) == (BOUND + 1, {"expired": BOUND})
    assert balance(redis_conn, bounded, "idle") == (BOUND + 1, BOUND + 1)
    assert rq_queue.count == 1  # only the new frame waits


def test_frames_a_worker_skipped_as_expired_are_counted_by_the_next_trim(
    redis_conn: redis.Redis[bytes], settings: Settings, rq_queue: Queue, worker: FerWorker
) -> None:
    bounded = settings.with_changes(max_pending_per_camera=BOUND)
    submitter = FrameSubmitter(redis_conn, bounded)
    expire_all(redis_conn, submit_many(submitter, "late", BOUND))
    worker.work(burst=True)  # takes their ids off the queue and skips them: no job
    assert balance(redis_conn, bounded, "late") == (BOUND, BOUND)  # still pending

    submit_many(submitter, "late", BOUND)  # each new frame pops an expired one

    counts = read_counts(redis_conn, bounded.key_prefix, "late")
    assert counts.dropped == {"expired": BOUND}
    assert balance(redis_conn, bounded, "late") == (2 * BOUND, 2 * BOUND)


def test_a_frame_a_worker_took_and_lost_stays_pending_until_it_is_counted(
    redis_conn: redis.Redis[bytes], settings: Settings, rq_queue: Queue
) -> None:
    """A worker took the oldest frame off the queue and died before starting it (or lost
    it in a Redis restart). The trim past the bound drops only frames still waiting: the
    taken one stays pending, so once its job expires unread the sweep counts it."""
    bounded = settings.with_changes(max_pending_per_camera=BOUND)
    submitter = FrameSubmitter(redis_conn, bounded)
    taken, *_ = submit_many(submitter, "lost", BOUND)
    assert taken is not None
    assert redis_conn.lmove(rq_queue.key, rq_queue.intermediate_queue_key) == taken.encode()

    submit_many(submitter, "lost", 2)  # past the bound: the waiting ones go, not the taken one

    assert read_counts(redis_conn, bounded.key_prefix, "lost").dropped == {"queue_full": 2}
    assert taken.encode() in redis_conn.lrange(pending_list(bounded.key_prefix, "lost"), 0, -1)
    expire_all(redis_conn, [taken])
    settle_expired(redis_conn, bounded)  # a live worker's sweep
    counts = read_counts(redis_conn, bounded.key_prefix, "lost")
    assert counts.dropped == {"queue_full": 2, "expired": 1}
    assert balance(redis_conn, bounded, "lost") == (BOUND + 2, BOUND + 2)
