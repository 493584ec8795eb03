"""A worker holding a batch while Redis restarts: it waits, then settles the batch for the
jobs the restarted server still holds, and nothing else."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from rq import Queue

from common.accounting import read_counts
from common.connection import connect
from common.metrics import worker_metrics
from common.serializer import MsgpackSerializer
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.faults.harness import RedisProcess, ledger
from tests.worker import SlowDetector, scene_frame
from worker.pipeline import FramePipeline
from worker.rqworker import FerWorker

FRAMES = 3
DETECT_PAUSE = 1.0  # each frame's detection: the batch is in hand for 3 s


@pytest.mark.parametrize(
    ("appendonly", "expected_processed"),
    [(True, FRAMES), (False, 0)],
    ids=["aof-always: settled", "no-persistence: forgotten"],
)
def test_a_batch_in_hand_through_a_redis_restart(
    appendonly: bool,
    expected_processed: int,
    tmp_path: Path,
    fer_data_dir: Path,
    frame_pipeline: FramePipeline,
) -> None:
    server = RedisProcess(tmp_path, appendonly=appendonly, fsync="always").start()
    try:
        settings = Settings(redis_url=server.url, max_frame_age=60.0)
        connection = connect(server.url)
        submitter = FrameSubmitter(connection, settings)
        for n in range(FRAMES):
            submitter.enqueue(scene_frame(fer_data_dir, "cam-r", n, seed=n))
        worker = FerWorker(
            [Queue(settings.queue_name, connection=connection, serializer=MsgpackSerializer)],
            settings=settings,
            pipeline=FramePipeline(
                SlowDetector(frame_pipeline.detector, DETECT_PAUSE),
                frame_pipeline.classifier,
                settings,
                "fault-worker",
            ),
            metrics=worker_metrics(),
            connection=connection,
        )
        restart = threading.Thread(target=restart_midway, args=(server,))
        restart.start()
        worker.work(burst=True)  # returns: the worker rode through
        restart.join()

        books = ledger(server.client(), "cam-r")
        print(books)
        assert books.unaccounted == 0
        assert read_counts(server.client(), "ferstream", "cam-r").processed == expected_processed
    finally:
        server.kill()


def restart_midway(server: RedisProcess) -> None:
    time.sleep(DETECT_PAUSE)  # the batch has started; its frames are being detected
    server.kill()
    time.sleep(1.0)
    server.start()
