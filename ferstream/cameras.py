"""Synthetic cameras in threads (moving FER2013 faces, ``producer.motion``), for the
programs and tests that need live cameras without hardware: the live view's browser
test (``synthetic_cameras``: each frame composed as it is sent) and ``ferstream
bench-web`` (``recorded_cameras``: a few seconds of each camera composed and encoded
once, then sent in a loop, so that the load of twenty cameras lies on the workers and
the live view rather than on the cameras' own drawing)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from common.defaults import DEFAULT_JPEG_QUALITY
from common.errors import FerStreamError
from common.settings import Settings
from common.wire import Frame
from producer.encoding import encode_jpeg
from producer.motion import MotionSequence
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
    with _running(threads, stop):
        yield stop


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


@contextmanager
def recorded_cameras(
    connection: redis.Redis[bytes],
    settings: Settings,
    cameras: list[str],
    fps: float,
    data_dir: Path,
    seconds: float = 6.0,
) -> Iterator[threading.Event]:
    """``cameras`` each sending its own ``seconds`` of moving faces at ``fps``, looped, with
    fresh frame numbers and capture times, while the context lasts."""
    recordings = {
        camera: _record(data_dir, seed, fps, seconds) for seed, camera in enumerate(cameras)
    }
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_replay,
            args=(FrameSubmitter(connection, settings), camera, recordings[camera], fps, stop),
            name=f"camera-{camera}",
            daemon=True,
        )
        for camera in cameras
    ]
    with _running(threads, stop):
        yield stop


def _record(data_dir: Path, seed: int, fps: float, seconds: float) -> list[tuple[bytes, int, int]]:
    moving = MotionSequence(data_dir, seconds, seed=seed)
    frames = []
    for number in range(max(1, round(seconds * fps))):
        image, _truth = moving.frame_at(number / fps)
        frames.append((encode_jpeg(image, DEFAULT_JPEG_QUALITY), image.shape[1], image.shape[0]))
    return frames


def _replay(
    submitter: FrameSubmitter,
    camera: str,
    recording: list[tuple[bytes, int, int]],
    fps: float,
    stop: threading.Event,
) -> None:
    number, start = 0, time.monotonic()
    while not stop.is_set():
        jpeg, width, height = recording[number % len(recording)]
        try:
            submitter.enqueue(Frame(camera, number, time.time(), jpeg, width, height))
        except FerStreamError as exc:
            log.warning("camera %s: frame %d not sent: %s", camera, number, exc)
        number += 1
        stop.wait(max(0.0, start + number / fps - time.monotonic()))


@contextmanager
def _running(threads: list[threading.Thread], stop: threading.Event) -> Iterator[None]:
    """``threads`` started for the context's length; ``stop`` set and each joined after."""
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5.0)
