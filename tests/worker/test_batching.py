"""Micro-batching with the real pipeline, a real ``FerWorker`` and the real Redis.

Batching must change how many model calls serve the frames, never what each frame gets:
the same faces, labels and probabilities as one frame at a time, and bad or stale frames
inside a batch fail or drop alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

from common.accounting import read_counts
from common.metrics import worker_metrics
from common.results import read_history
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame, Result
from producer.submit import FrameSubmitter
from tests.worker import scene_frame
from worker.pipeline import FramePipeline
from worker.rqworker import FerWorker

FRAMES = 6


@pytest.fixture
def submitter(redis_conn: redis.Redis[bytes], settings: Settings) -> FrameSubmitter:
    return FrameSubmitter(redis_conn, settings.with_changes(max_pending_per_camera=100))


def batch_calls() -> tuple[float, float]:
    """(classifier calls, frames they served) so far in this process."""
    histogram = worker_metrics().batch_frames
    samples = {s.name: s.value for s in histogram.collect()[0].samples}
    return samples["ferstream_batch_frames_count"], samples["ferstream_batch_frames_sum"]


def scenes(data_dir: Path, camera_id: str) -> list[Frame]:
    return [scene_frame(data_dir, camera_id, frame_number=n, seed=n) for n in range(FRAMES)]


def run_burst(
    frames: list[Frame],
    submitter: FrameSubmitter,
    worker: FerWorker,
    connection: redis.Redis[bytes],
    prefix: str,
) -> dict[int, Result]:
    for frame in frames:
        submitter.enqueue(frame)
    worker.work(burst=True)
    camera = frames[0].camera_id
    return {r.frame_number: r for _, r in read_history(connection, prefix, camera)}


def test_process_many_gives_each_frame_what_it_gets_alone(
    frame_pipeline: FramePipeline, fer_data_dir: Path
) -> None:
    frames = scenes(fer_data_dir, "cam-b")
    alone = [frame_pipeline.process(frame, queue_wait=0.0) for frame in frames]
    together = frame_pipeline.process_many(frames, [0.0] * len(frames))

    assert sum(len(r.faces) for r in alone) >= FRAMES  # the scenes really hold faces
    for single, batched in zip(alone, together, strict=True):
        assert isinstance(batched, Result)
        assert [f.box for f in batched.faces] == [f.box for f in single.faces]
        assert [f.label for f in batched.faces] == [f.label for f in single.faces]
        for a, b in zip(single.faces, batched.faces, strict=True):
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)


def test_a_bad_frame_in_a_batch_gets_its_own_error(
    frame_pipeline: FramePipeline, fer_data_dir: Path
) -> None:
    good = scenes(fer_data_dir, "cam-b")[:2]
    truncated = replace(good[0], frame_number=9, image=good[0].image[:1000])
    outcomes = frame_pipeline.process_many([good[0], truncated, good[1]], [0.0, 0.0, 0.0])

    assert [type(o).__name__ for o in outcomes] == ["Result", "InvalidFrame", "Result"]
    assert getattr(outcomes[1], "reason", None) == "truncated"
    assert [o.frame_number for o in outcomes if isinstance(o, Result)] == [0, 1]


def test_a_worker_batches_waiting_frames_with_unchanged_results(
    worker: FerWorker,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    batch_settings(batch_max_frames=1)
    calls, served = batch_calls()
    one_by_one = run_burst(
        scenes(fer_data_dir, "cam-one"), submitter, worker, redis_conn, settings.key_prefix
    )
    assert batch_calls() == (calls + FRAMES, served + FRAMES)

    batch_settings(batch_max_frames=4)
    calls, served = batch_calls()
    batched = run_burst(
        scenes(fer_data_dir, "cam-four"), submitter, worker, redis_conn, settings.key_prefix
    )
    assert batch_calls() == (calls + 2, served + FRAMES)  # a batch of 4, then of 2

    assert sorted(batched) == sorted(one_by_one) == list(range(FRAMES))
    for number, single in one_by_one.items():
        assert [(f.box, f.label) for f in batched[number].faces] == [
            (f.box, f.label) for f in single.faces
        ]
    counts = read_counts(redis_conn, settings.key_prefix, "cam-four")
    assert (counts.submitted, counts.processed, counts.settled) == (FRAMES, FRAMES, FRAMES)


def test_bad_and_stale_frames_in_a_batch_settle_alone(
    worker: FerWorker,
    rq_queue: Queue,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    batch_settings(batch_max_frames=8)
    good = scenes(fer_data_dir, "cam-mixed")[:3]
    stale = replace(good[0], frame_number=10, captured_at=time.time() - 60)
    truncated = replace(good[1], frame_number=11, image=good[1].image[:1000])
    job_ids = [submitter.enqueue(f) for f in (good[0], stale, truncated, good[1], good[2])]
    calls, served = batch_calls()
    worker.work(burst=True)

    assert batch_calls() == (calls + 1, served + 4)  # the stale frame is never computed
    # finished jobs are deleted as they finish (result TTL 0); the failed one stays
    assert [Job.exists(i, connection=redis_conn) for i in job_ids] == [False] * 2 + [True] + [
        False
    ] * 2
    failed = Job.fetch(job_ids[2], connection=redis_conn, serializer=MsgpackSerializer)
    assert failed.get_status() == JobStatus.FAILED
    counts = read_counts(redis_conn, settings.key_prefix, "cam-mixed")
    assert (counts.processed, counts.dropped, counts.failed) == (
        3,
        {"stale": 1},
        {"truncated": 1},
    )
    history = read_history(redis_conn, settings.key_prefix, "cam-mixed")
    assert [r.frame_number for _, r in history] == [0, 1, 2]  # queue order kept


def test_a_worker_waits_up_to_max_wait_for_a_batch_to_fill(
    worker: FerWorker,
    submitter: FrameSubmitter,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    batch_settings: Callable[..., None],
    fer_data_dir: Path,
) -> None:
    batch_settings(batch_max_frames=2, batch_max_wait=1.5)
    first, second = scenes(fer_data_dir, "cam-late")[:2]
    submitter.enqueue(first)
    late = threading.Timer(0.2, submitter.enqueue, args=(second,))
    calls, served = batch_calls()
    late.start()
    worker.work(burst=True)
    late.join()

    assert batch_calls() == (calls + 1, served + 2)  # the late frame joined the first
    counts = read_counts(redis_conn, settings.key_prefix, "cam-late")
    assert (counts.submitted, counts.processed) == (2, 2)
