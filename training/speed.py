"""How fast the emotion model classifies faces on this machine, through the worker's own path.

A benchmark program, not a test: ``python -m training.speed [MODEL]`` prints JSON.
It loads the model with ``worker.classifier.KerasEmotionClassifier`` on the chosen
backend (``tflite`` by default, as workers run it, or ``tensorflow``: a ``tf.function``
around a direct model call) after capping the threads with
``worker.runtime.configure_threads``, exactly as a worker process does. Warm-up
calls are excluded from the timings; face detection and JPEG decoding are not included.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.preprocessing import FACE_SIZE
from common.settings import CLASSIFIER_BACKENDS, Settings

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
DEFAULT_SECONDS = 10.0
WARMUP_CALLS = 3

Faces = npt.NDArray[np.uint8]


def measure_speed(
    model_path: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seconds: float = DEFAULT_SECONDS,
    threads: int | None = None,
    flip_tta: bool = False,
    backend: str | None = None,
) -> dict[str, Any]:
    """Faces per second in batches of ``batch_size`` and milliseconds for one face.

    Each measurement runs for about ``seconds``. ``threads`` defaults to what a worker
    gets from the settings (cores divided by concurrency); it only takes effect if
    TensorFlow has not been initialised yet in this process.
    """
    from worker.runtime import configure_threads  # before TensorFlow loads

    settings = Settings.from_env()
    threads = threads or settings.worker_threads()
    configure_threads(threads)
    import tensorflow as tf

    from worker.classifier import KerasEmotionClassifier

    started = time.perf_counter()
    classifier = KerasEmotionClassifier(
        Path(model_path),
        flip_tta,
        backend or settings.classifier_backend,
        threads,
        settings.cache_dir,
    )
    load_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (batch_size, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    batched = _time_calls(classifier.classify, batch, seconds)
    single = _time_calls(classifier.classify, batch[:1], seconds)
    result = {
        "model": str(model_path),
        "model_id": classifier.model_id,
        "path": "worker.classifier.KerasEmotionClassifier.classify",
        "backend": classifier.backend,
        "flip_tta": flip_tta,
        "batch_size": batch_size,
        "batched_faces_per_second": batch_size / float(np.mean(batched)),
        "batched_ms_per_batch_median": 1000.0 * float(np.median(batched)),
        "single_ms_median": 1000.0 * float(np.median(single)),
        "single_ms_p90": 1000.0 * float(np.percentile(single, 90)),
        "single_faces_per_second": 1.0 / float(np.mean(single)),
        "calls": {"batched": len(batched), "single": len(single)},
        "load_seconds": load_seconds,
        "threads_requested": threads,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
    }
    log.info(
        "%.1f faces/s in batches of %d, %.1f ms for one face (median)",
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


def main(argv: list[str] | None = None) -> None:
    """``python -m training.speed``: print the measurement as JSON, optionally save it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", default=Settings.from_env().model_path)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--flip-tta", action="store_true")
    parser.add_argument("--backend", choices=CLASSIFIER_BACKENDS, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = measure_speed(
        args.model, args.batch_size, args.seconds, args.threads, args.flip_tta, args.backend
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
