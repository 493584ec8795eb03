from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis
from rq import Queue
from rq.job import Job

from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame
from producer.frames import CapturedFrame
from producer.runner import run_producer
from producer.sources import ImageFolderSource
from producer.submit import FrameSubmitter

ENCODING: dict[str, Any] = {"jpeg_quality": 80, "max_side": 320}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for index in range(3):
        cv2.imwrite(str(tmp_path / f"{index}.png"), np.full((48, 64, 3), 60 * index, np.uint8))
    return tmp_path


@pytest.fixture
def submitter(redis_conn: redis.Redis[bytes], settings: Settings) -> FrameSubmitter:
    # no worker drains the queue here: room for every frame (bounds: test_backpressure.py)
    return FrameSubmitter(redis_conn, settings.with_changes(max_pending_per_camera=100))


def _queued_frames(queue: Queue) -> list[Frame]:
    jobs = [Job.fetch(i, queue.connection, serializer=MsgpackSerializer) for i in queue.job_ids]
    return [Frame.decode(job.args[0]) for job in jobs]


def test_max_frames_and_consecutive_numbers(
    folder: Path, submitter: FrameSubmitter, rq_queue: Queue
) -> None:
    source = ImageFolderSource(folder, loop=True)
    stats = run_producer(source, submitter, "cam-1", target_fps=500, max_frames=7, **ENCODING)
    assert stats.frames_submitted == 7
    assert stats.frames_failed == 0
    assert [f.frame_number for f in _queued_frames(rq_queue)] == list(range(7))
    assert source.closed


def test_end_of_source_ends_the_run(folder: Path, submitter: FrameSubmitter) -> None:
    stats = run_producer(ImageFolderSource(folder), submitter, "cam-1", target_fps=500, **ENCODING)
    assert stats.frames_submitted == 3


def test_paced_to_the_target_fps(folder: Path, submitter: FrameSubmitter) -> None:
    source = ImageFolderSource(folder, loop=True)
    stats = run_producer(source, submitter, "cam-1", target_fps=20, max_frames=6, **ENCODING)
    assert stats.elapsed_seconds >= 5 / 20 - 0.01  # five full periods between six frames
    assert stats.fps <= 21


def test_duration_ends_the_run(folder: Path, submitter: FrameSubmitter) -> None:
    source = ImageFolderSource(folder, loop=True)
    stats = run_producer(source, submitter, "cam-1", target_fps=10, duration=0.35, **ENCODING)
    assert 3 <= stats.frames_submitted <= 5
    assert stats.elapsed_seconds < 1.0


def test_stop_event_is_honoured(folder: Path, submitter: FrameSubmitter) -> None:
    stop = threading.Event()
    submitted: list[tuple[int, str]] = []

    def on_submit(number: int, job_id: str, captured: CapturedFrame) -> None:
        submitted.append((number, job_id))
        if number == 2:
            stop.set()

    source = ImageFolderSource(folder, loop=True)
    stats = run_producer(
        source, submitter, "cam-1", target_fps=10, stop=stop, on_submit=on_submit, **ENCODING
    )
    assert stats.frames_submitted == 3
    assert [number for number, _ in submitted] == [0, 1, 2]


def test_stop_from_another_thread_wakes_the_pacing_sleep(
    folder: Path, submitter: FrameSubmitter
) -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    source = ImageFolderSource(folder, loop=True)
    stats = run_producer(source, submitter, "cam-1", target_fps=0.5, stop=stop, **ENCODING)
    assert stats.frames_submitted == 1
    assert time.monotonic() - started < 1.0  # not the 2 s period


def test_ctrl_c_ends_cleanly_and_closes_the_source(folder: Path, submitter: FrameSubmitter) -> None:
    def interrupt(number: int, job_id: str, captured: CapturedFrame) -> None:
        if number == 1:
            raise KeyboardInterrupt

    source = ImageFolderSource(folder, loop=True)
    stats = run_producer(
        source, submitter, "cam-1", target_fps=500, on_submit=interrupt, **ENCODING
    )
    assert stats.frames_submitted == 2
    assert source.closed


def test_frames_redis_refuses_are_counted_not_numbered(folder: Path, settings: Settings) -> None:
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    submitter = FrameSubmitter(unreachable, settings)
    stats = run_producer(ImageFolderSource(folder), submitter, "cam-1", target_fps=500, **ENCODING)
    assert (stats.frames_submitted, stats.frames_failed) == (0, 3)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"target_fps": 0}, "target_fps"),
        ({"target_fps": 5, "max_frames": -1}, "max_frames"),
        ({"target_fps": 5, "duration": -1.0}, "duration"),
    ],
)
def test_bad_limits_are_refused(
    folder: Path, submitter: FrameSubmitter, limits: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_producer(ImageFolderSource(folder), submitter, "cam-1", **ENCODING, **limits)
