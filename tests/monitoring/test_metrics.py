"""What workers and producers record, read back from a fresh registry.

Jobs run through the production ``FerWorker`` in burst mode in-process, with the real
pipeline; the process-wide worker metrics are swapped for ones on a fresh registry.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from rq import Queue

from common.accounting import UNKNOWN_CAMERA
from common.errors import BrokerUnavailable, SchemaError
from common.metrics import (
    LATENCY_BUCKETS,
    STAGE_BUCKETS,
    STAGES,
    ProducerMetrics,
    WorkerMetrics,
    install_worker_metrics,
    worker_metrics,
)
from common.results import read_history
from common.settings import Settings
from common.wire import EMOTIONS, Frame
from producer.submit import FrameSubmitter
from tests.worker import BAD_JOB_NAMES, bad_jobs, scene_frame
from worker.jobs import PROCESS_FRAME
from worker.rqworker import FerWorker


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    """A fresh registry holding the worker metrics that jobs record into, for one test."""
    fresh = CollectorRegistry()
    previous = install_worker_metrics(WorkerMetrics.create(fresh))
    try:
        yield fresh
    finally:
        install_worker_metrics(previous)


@pytest.fixture
def worker(registry: CollectorRegistry, worker: FerWorker) -> FerWorker:
    """The test worker, recording into the fresh registry's worker metrics."""
    worker.metrics = worker_metrics()
    return worker


@pytest.fixture
def submitter(
    redis_conn: redis.Redis[bytes], settings: Settings, registry: CollectorRegistry
) -> FrameSubmitter:
    return FrameSubmitter(redis_conn, settings, metrics=ProducerMetrics.create(registry))


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_processed_frame_is_counted_and_timed_at_every_stage(
    registry: CollectorRegistry,
    submitter: FrameSubmitter,
    worker: FerWorker,
    redis_conn: redis.Redis[bytes],
    settings: Settings,
    fer_data_dir: Path,
) -> None:
    frame = scene_frame(fer_data_dir, camera_id="cam-1", seed=2)
    submitter.enqueue(frame)
    worker.work(burst=True)
    finished = time.time()

    [(_, result)] = read_history(redis_conn, settings.key_prefix, "cam-1")
    faces = len(result.faces)
    assert faces >= 1
    assert value(registry, "ferstream_frames_submitted_total", camera="cam-1") == 1
    assert value(registry, "ferstream_frames_processed_total", camera="cam-1") == 1
    assert value(registry, "ferstream_faces_detected_total", camera="cam-1") == faces
    by_emotion = {
        emotion: value(
            registry, "ferstream_faces_by_emotion_total", camera="cam-1", emotion=emotion
        )
        for emotion in EMOTIONS
    }
    assert sum(v or 0 for v in by_emotion.values()) == faces
    for face in result.faces:
        assert (by_emotion[EMOTIONS[face.label]] or 0) >= 1
    latency = value(registry, "ferstream_end_to_end_latency_seconds_sum", camera="cam-1")
    assert latency is not None
    assert result.published_at - frame.captured_at <= latency <= finished - frame.captured_at
    assert value(registry, "ferstream_end_to_end_latency_seconds_count", camera="cam-1") == 1
    assert value(registry, "ferstream_queue_wait_seconds_count") == 1
    for stage in STAGES:
        assert value(registry, "ferstream_stage_duration_seconds_count", stage=stage) == 1
    detect = value(registry, "ferstream_stage_duration_seconds_sum", stage="detect")
    assert detect == pytest.approx(result.timings.detect)
    assert value(registry, "ferstream_faces_per_frame_sum") == faces
    assert value(registry, "ferstream_faces_per_frame_bucket", le="0.0") == 0
    assert value(registry, "ferstream_frames_failed_total", camera="cam-1", reason="decode") is None


def test_a_stale_frame_is_counted_as_dropped_not_processed(
    registry: CollectorRegistry, submitter: FrameSubmitter, worker: FerWorker, fer_data_dir: Path
) -> None:
    submitter.enqueue(scene_frame(fer_data_dir, camera_id="cam-1", captured_at=time.time() - 600))
    worker.work(burst=True)

    assert value(registry, "ferstream_frames_dropped_total", camera="cam-1", reason="stale") == 1
    assert value(registry, "ferstream_frames_processed_total", camera="cam-1") is None
    assert value(registry, "ferstream_end_to_end_latency_seconds_count", camera="cam-1") is None


@pytest.mark.parametrize("name", BAD_JOB_NAMES)
def test_a_bad_frame_is_counted_as_failed_by_reason(
    name: str, registry: CollectorRegistry, rq_queue: Queue, worker: FerWorker
) -> None:
    [bad] = [job for job in bad_jobs() if job.name == name]
    rq_queue.enqueue_call(PROCESS_FRAME, args=(bad.payload,))
    worker.work(burst=True)

    failed = value(
        registry, "ferstream_frames_failed_total", camera=bad.camera_id, reason=bad.reason
    )
    assert failed == 1
    assert value(registry, "ferstream_faces_per_frame_count") == 0


def test_a_foreign_job_is_counted_as_failed(
    registry: CollectorRegistry, rq_queue: Queue, worker: FerWorker
) -> None:
    rq_queue.enqueue_call("os.system", args=("true",))
    worker.work(burst=True)

    failed = value(
        registry, "ferstream_frames_failed_total", camera=UNKNOWN_CAMERA, reason="foreign_job"
    )
    assert failed == 1


def test_a_frame_redis_refuses_is_counted_as_a_submit_failure(
    settings: Settings, make_frame: Callable[..., Frame]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    registry = CollectorRegistry()
    unreachable = redis.Redis(port=port, socket_connect_timeout=0.2)
    submitter = FrameSubmitter(unreachable, settings, metrics=ProducerMetrics.create(registry))
    frame = make_frame(camera_id="door")

    with pytest.raises(BrokerUnavailable):
        submitter.enqueue(frame)

    assert value(registry, "ferstream_submit_failures_total", camera="door") == 1
    assert value(registry, "ferstream_frames_submitted_total", camera="door") is None


def test_the_model_info_names_the_model_and_the_versions() -> None:
    registry = CollectorRegistry()
    WorkerMetrics.create(registry).record_model("ferstream-mnv2-0123456789ab", 48, flip_tta=False)

    [family] = [f for f in registry.collect() if f.name == "ferstream_model_info"]
    [sample] = family.samples
    assert sample.value == 1
    labels = sample.labels
    assert (labels["model_id"], labels["input_size"], labels["flip_tta"]) == (
        "ferstream-mnv2-0123456789ab",
        "48x48",
        "false",
    )
    assert labels["ferstream_version"] == "0.1.0"
    assert labels["litert_version"][0].isdigit()  # what a worker runs the model on
    assert {"opencv_version", "rq_version"} <= set(labels)
    assert not {"tensorflow_version", "keras_version"} & set(labels)


def test_every_stage_is_listed_before_the_first_frame() -> None:
    registry = CollectorRegistry()
    WorkerMetrics.create(registry)

    for stage in STAGES:
        assert value(registry, "ferstream_stage_duration_seconds_count", stage=stage) == 0


def test_buckets_span_milliseconds_to_seconds() -> None:
    assert tuple(sorted(LATENCY_BUCKETS)) == LATENCY_BUCKETS
    assert tuple(sorted(STAGE_BUCKETS)) == STAGE_BUCKETS
    assert LATENCY_BUCKETS[0] <= 0.01
    assert LATENCY_BUCKETS[-1] >= 5
    assert STAGE_BUCKETS[0] <= 0.001
    assert STAGE_BUCKETS[-1] >= 1


def test_a_cameras_source_series_exist_from_the_start_and_its_id_is_checked() -> None:
    registry = CollectorRegistry()
    metrics = ProducerMetrics.create(registry)
    metrics.source_health("door")
    for name in ("ferstream_source_reconnects_total", "ferstream_source_read_failures_total"):
        assert value(registry, name, camera="door") == 0  # rate() works from the first scrape
    assert value(registry, "ferstream_source_up", camera="door") == 0  # no frame yet
    with pytest.raises(SchemaError, match=r"camera_id: expected str of 1\.\.64 characters"):
        metrics.source_health("front door")
    assert value(registry, "ferstream_source_up", camera="front door") is None
