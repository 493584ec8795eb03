"""How fast the served emotion model is, and what one real worker process costs.

A benchmark program, not a test: ``python -m training.speed [MODEL] [--out FILE]`` prints
JSON. Two parts:

* **The classifier**, through the worker's own path: ``LiteRtEmotionClassifier.classify``
  on LiteRT, threads capped by ``worker.runtime.configure_threads`` as in a worker. Faces
  per second in batches, and milliseconds for one face. Warm-up calls are excluded; face
  detection and JPEG decoding are not included.
* **A worker process**: ``python -m worker`` started against an embedded Redis, timed
  from its start until it is registered on the queue with its model loaded (ready), then
  fed real frames; its resident memory (VmRSS, and the peak VmHWM) is read from /proc
  after it has served them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.preprocessing import FACE_SIZE
from common.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
DEFAULT_SECONDS = 10.0
WARMUP_CALLS = 3
READY_TIMEOUT_SECONDS = 120.0
FEED_FRAMES = 40

Faces = npt.NDArray[np.uint8]


def measure_classifier(
    settings: Settings,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seconds: float = DEFAULT_SECONDS,
    threads: int | None = None,
) -> dict[str, Any]:
    """Faces per second in batches of ``batch_size`` and milliseconds for one face."""
    from worker.classifier import LiteRtEmotionClassifier
    from worker.runtime import configure_threads

    threads = threads or settings.worker_threads()
    configure_threads(threads)
    started = time.perf_counter()
    classifier = LiteRtEmotionClassifier.from_model_file(
        settings.model_path, settings.cache_dir, threads, settings.flip_tta
    )
    load_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (batch_size, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    batched = _time_calls(classifier.classify, batch, seconds)
    single = _time_calls(classifier.classify, batch[:1], seconds)
    result = {
        "model_id": classifier.model_id,
        "path": "worker.classifier.LiteRtEmotionClassifier.classify (LiteRT)",
        "flip_tta": settings.flip_tta,
        "threads": threads,
        "batch_size": batch_size,
        "batched_faces_per_second": batch_size / float(np.mean(batched)),
        "single_ms_median": 1000.0 * float(np.median(single)),
        "single_ms_p90": 1000.0 * float(np.percentile(single, 90)),
        "calls": {"batched": len(batched), "single": len(single)},
        "load_seconds": load_seconds,
    }
    log.info(
        "%d threads: %.0f faces/s in batches of %d, %.2f ms for one face (median)",
        threads,
        result["batched_faces_per_second"],
        batch_size,
        result["single_ms_median"],
    )
    return result


def _time_calls(
    classify: Callable[[Faces], Any], faces: Faces, seconds: float
) -> npt.NDArray[np.float64]:
    """Durations of repeated ``classify(faces)`` calls for about ``seconds``, after a warm-up."""
    for _ in range(WARMUP_CALLS):
        classify(faces)
    durations: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(durations) < 3:
        started = time.perf_counter()
        classify(faces)
        durations.append(time.perf_counter() - started)
    return np.asarray(durations, dtype=np.float64)


SceneJpeg = tuple[bytes, int, int]  # a JPEG frame, its width and height


def measure_worker_process(settings: Settings, frames: list[SceneJpeg]) -> dict[str, Any]:
    """Start-to-ready seconds and resident memory of one real ``python -m worker`` process."""
    from common.connection import connect
    from common.redis_server import EmbeddedRedis
    from worker.model_file import serving_model
    from worker.pool import wait_for_workers

    serving_model(settings.model_path, settings.cache_dir)  # converted ahead, as a pool does
    with EmbeddedRedis() as server:
        worker_settings = settings.with_changes(redis_url=server.url, metrics_port=0)
        connection = connect(server.url)
        env = {**os.environ, **worker_settings.to_env()}
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", "--name", "speed-probe"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_workers(connection, worker_settings, 1, READY_TIMEOUT_SECONDS)
            ready = time.monotonic() - started
            ready_rss = _memory(process.pid)
            served = _feed(connection, worker_settings, frames)
            after = _memory(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    result = {
        "start_to_ready_seconds": ready,
        "rss_mib_ready": ready_rss["VmRSS"],
        "rss_mib_after_frames": after["VmRSS"],
        "peak_rss_mib": after["VmHWM"],
        "frames_served": served,
        "threads": worker_settings.worker_threads(),
    }
    log.info(
        "worker process: ready in %.2f s, RSS %.0f MiB after %d frames (peak %.0f MiB)",
        ready,
        after["VmRSS"],
        served,
        after["VmHWM"],
    )
    return result


def _feed(connection: Any, settings: Settings, frames: list[SceneJpeg]) -> int:
    """Queue ``frames`` for the worker and wait until it has served them all."""
    from common.accounting import read_counts
    from common.wire import Frame
    from producer.submit import FrameSubmitter

    submitter = FrameSubmitter(connection, settings.with_changes(max_pending_per_camera=1000))
    for number, (image, width, height) in enumerate(frames):
        frame = Frame("speed", number, time.time(), image, width, height)
        submitter.enqueue(frame)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        counts = read_counts(connection, settings.key_prefix, "speed")
        if counts.settled >= len(frames):
            return counts.processed
        time.sleep(0.1)
    raise TimeoutError("the worker did not serve the frames in time")


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MiB, from /proc."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return values


def scene_frames(settings: Settings, count: int) -> list[SceneJpeg]:
    """``count`` 640x480 JPEG frames with 1-3 real FER2013 faces: the demo's scenes."""
    from common.defaults import DEFAULT_JPEG_QUALITY
    from producer.encoding import encode_jpeg
    from producer.scenes import SceneGenerator

    scenes = SceneGenerator(settings.data_dir, split="test", seed=0)
    width, height = scenes.size
    return [
        (encode_jpeg(scenes.next_scene()[0], DEFAULT_JPEG_QUALITY), width, height)
        for _ in range(count)
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m training.speed``: print the measurements as JSON, optionally save them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", default=None)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env(model_path=args.model)
    result: dict[str, Any] = {
        "model": str(settings.model_path),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "classifier": [
            measure_classifier(settings, args.batch_size, args.seconds, threads)
            for threads in (2, 1)
        ],
        "worker_process": measure_worker_process(settings, scene_frames(settings, FEED_FRAMES)),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
