"""Which Keras backend trains the emotion model fastest on this machine.

A benchmark program, not a test: ``python -m training.backend_speed [--out FILE]``. For each
backend (TensorFlow, JAX, PyTorch) it starts a fresh process with ``KERAS_BACKEND`` set,
builds the project's MobileNetV2 (``training.model``, the shipped configuration unless
told otherwise), compiles it as ``training.train`` does, and times bare
``train_on_batch`` steps on random faces after warm-up. A backend that is not installed
is reported as such. Prints one JSON object: faces per second per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from training.model import ModelConfig

BACKENDS = ("tensorflow", "jax", "torch")
WARMUP_STEPS = 3


def train_step_speed(config: ModelConfig, batch_size: int, seconds: float) -> tuple[float, int]:
    """Faces per second of bare training steps of ``config`` here, and how many steps ran.

    Compiled as ``training.train`` compiles it; random faces; after ``WARMUP_STEPS``.
    """
    import keras
    import numpy as np

    from training.model import build_model

    model = build_model(config)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, 48, 48, 1)).astype(np.float32)
    targets = np.eye(7, dtype=np.float32)[rng.integers(0, 7, batch_size)]
    weights = np.ones(batch_size, dtype=np.float32)
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(images, targets, sample_weight=weights)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.train_on_batch(images, targets, sample_weight=weights)
        steps += 1
    return steps * batch_size / (time.perf_counter() - started), steps


def measure_here(batch_size: int, seconds: float, downsample: str) -> dict[str, Any]:
    """Faces per second of a bare training step on the backend this process runs."""
    import keras

    config = ModelConfig(downsample=tuple(int(c) for c in downsample))  # type: ignore[arg-type]
    faces_per_second, steps = train_step_speed(config, batch_size, seconds)
    return {
        "backend": keras.backend.backend(),
        "model": config.name,
        "batch_size": batch_size,
        "steps": steps,
        "faces_per_second": faces_per_second,
    }


def measure_backend(backend: str, batch_size: int, seconds: float, downsample: str) -> Any:
    """Run :func:`measure_here` in a child process on ``backend``."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = (
        "import json, sys; from training.backend_speed import measure_here; "
        f"print(json.dumps(measure_here({batch_size}, {seconds}, {downsample!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"backend": backend, "error": lines[-1] if lines else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--downsample", default="22221")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = [
        measure_backend(backend, args.batch_size, args.seconds, args.downsample)
        for backend in BACKENDS
    ]
    report = {"cpu_count": os.cpu_count(), "python": sys.executable, "results": results}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
