"""Synthetic cameras in threads (moving FER2013 faces, ``producer.motion``), for the
programs and tests that need live cameras without hardware: ``ferstream bench-web``
and the live view's browser test."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from common.defaults import DEFAULT_JPEG_QUALITY
from common.errors import FerStreamError
from common.settings import Settings
from producer.runner import run_producer
from producer.sources import open_source
from producer.submit import FrameSubmitter

log = logging.getLogger(__name__)

MAX_SIDE = 640


@contextmanager
def synthetic_cameras(
    connection: redis.Redis[bytes],
    settings: Settings,
    cameras: list[str],
    fps: float,
    data_dir: Path,
) -> Iterator[threading.Event]:
    """``cameras`` each submitting moving faces at ``fps`` while the context lasts; set the
    yielded event to stop them early."""
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_produce,
            args=(connection, settings, camera, seed, fps, data_dir, stop),
            name=f"camera-{camera}",
            daemon=True,
        )
        for seed, camera in enumerate(cameras)
    ]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5.0)


def _produce(
    connection: redis.Redis[bytes],
    settings: Settings,
    camera: str,
    seed: int,
    fps: float,
    data_dir: Path,
    stop: threading.Event,
) -> None:
    try:
        with open_source(f"motion:{data_dir}", loop=True, data_dir=data_dir, seed=seed) as source:
            run_producer(
                source,
                FrameSubmitter(connection, settings),
                camera,
                target_fps=fps,
                jpeg_quality=DEFAULT_JPEG_QUALITY,
                max_side=MAX_SIDE,
                stop=stop,
            )
    except FerStreamError as exc:
        log.error("camera %s stopped: %s", camera, exc)
