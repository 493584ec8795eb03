"""The emotion model compiled for TensorFlow Lite's CPU kernels (XNNPACK), in memory.

Measured here on one thread, the shipped MobileNetV2: one face 2.3 ms vs 6.8 ms through a
``tf.function``, eight faces 14 ms vs 24 ms, the same probabilities (within 3e-6). The
Keras file stays the one model on disk: TensorFlow converts it when a worker loads it
(~10 s here), and keeps the result in a cache folder under a name made of the model file's
hash and the TensorFlow version, so later starts skip the conversion (~1 s) and a changed
model or TensorFlow is converted afresh. A cached file's time is renewed at each load; a
conversion deletes cached files no worker has loaded for ``CACHE_UNUSED_DAYS`` days (older
models and TensorFlow versions). It runs on LiteRT's interpreter
(``ai-edge-litert``), or TensorFlow's deprecated ``tf.lite.Interpreter`` without it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

CACHE_UNUSED_DAYS = 30
CACHE_SUFFIX = ".tflite"


class TfliteRunner:
    """Calls a converted Keras model on float32 batches of any size, on ``threads`` threads."""

    def __init__(self, content: bytes, threads: int) -> None:
        self._interpreter = _interpreter_class()(model_content=content, num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = -1

    @classmethod
    def from_keras(
        cls, model: Any, threads: int, model_id: str, cache_dir: Path | None
    ) -> TfliteRunner:
        """``model`` converted (or read back from ``cache_dir``) and loaded."""
        import tensorflow as tf

        name = f"{model_id}-tf{tf.__version__}{CACHE_SUFFIX}"
        cached = None if cache_dir is None else cache_dir / name
        if cached is not None and cached.is_file():
            try:
                runner = cls(cached.read_bytes(), threads)
            except (OSError, ValueError, RuntimeError) as exc:  # unreadable: convert again
                log.warning("ignoring the cached TFLite model %s: %s", cached, exc)
            else:
                _mark_used(cached)
                return runner
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its export's signature
            content: bytes = converter.convert()
        runner = cls(content, threads)
        if cached is not None:
            _write_atomically(cached, content)
            _prune_unused(cached.parent, keep=cached, days=CACHE_UNUSED_DAYS)
        return runner

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if len(batch) != self._batch:  # re-planning for a new size costs ~0.15 ms
            self._interpreter.resize_tensor_input(self._input, list(batch.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(batch)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch))
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output), dtype=np.float32)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


def _prune_unused(cache_dir: Path, keep: Path, days: float) -> list[Path]:
    """Delete the cached models in ``cache_dir`` but ``keep`` not loaded for ``days`` days.

    Returns what was deleted. A worker that still wants one converts it again.
    """
    cutoff = time.time() - days * 86400
    pruned = []
    for path in cache_dir.glob(f"*{CACHE_SUFFIX}"):
        try:
            if path != keep and path.stat().st_mtime < cutoff:
                path.unlink()
                pruned.append(path)
        except OSError as exc:  # gone already, or not ours to delete
            log.warning("could not prune the cached TFLite model %s: %s", path, exc)
    if pruned:
        log.info("pruned %d cached TFLite models unused for %g days", len(pruned), days)
    return pruned


def _mark_used(path: Path) -> None:
    """Renew ``path``'s time, so that pruning keeps it (a read-only cache stays as it is)."""
    try:
        os.utime(path)
    except OSError as exc:
        log.debug("cannot renew the time of %s: %s", path, exc)


def _write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` whole or not at all (workers may start together)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial.write_bytes(content)
        os.replace(partial, path)
    except OSError as exc:  # a read-only home or a full disk: convert at every start instead
        log.warning("cannot cache the TFLite model at %s: %s", path, exc)
        partial.unlink(missing_ok=True)
