"""Emotion classification behind a small protocol; the real one is the project's Keras model.

All faces of a call go through the model in one batch. The model runs on one of two
backends: ``tflite`` (default: converted in memory for TensorFlow Lite's CPU kernels,
~2x faster here, see ``worker.tflite_runner``) or ``tensorflow`` (the Keras model called
directly through a ``tf.function``; ``model.predict`` costs ~130 ms a call here). Both
give the same probabilities; if the conversion fails the worker says why and uses
``tensorflow``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from common.defaults import DEFAULT_CLASSIFIER_BACKEND
from common.errors import ModelError
from common.preprocessing import FACE_SIZE, to_model_batch
from common.settings import CLASSIFIER_BACKENDS
from common.wire import EMOTIONS

log = logging.getLogger(__name__)

Probabilities = npt.NDArray[np.float32]


class EmotionClassifier(Protocol):
    model_id: str

    def classify(self, faces: npt.NDArray[np.uint8]) -> Probabilities:
        """(N, 7) probabilities for (N, 48, 48) uint8 faces, in EMOTIONS order."""
        ...


def model_id_of(path: Path) -> str:
    """``<file stem>-<first 12 hex digits of its SHA-256>``: names exactly one model file."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.stem}-{digest}"


class KerasEmotionClassifier:
    """Loads a ``.keras`` model once and classifies face batches with it."""

    def __init__(
        self,
        model_path: Path,
        flip_tta: bool = False,
        backend: str = DEFAULT_CLASSIFIER_BACKEND,
        threads: int = 1,
        cache_dir: Path | None = None,
    ) -> None:
        import keras
        import tensorflow as tf

        import common.layers  # noqa: F401 - registers the model's custom layers

        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelError(f"expected a .keras model file, got missing path {model_path}")
        try:
            self._model = keras.models.load_model(model_path, compile=False)
        except Exception as exc:
            raise ModelError(f"cannot load model {model_path}: {exc}") from exc
        self._check_shapes(self._model)
        self.model_id = model_id_of(model_path)
        self.flip_tta = flip_tta
        if backend not in CLASSIFIER_BACKENDS:
            raise ModelError(f"expected a backend in {CLASSIFIER_BACKENDS}, got {backend!r}")
        self.backend = backend
        self._call: Any = None
        if backend == "tflite":
            self._call = self._tflite(threads, cache_dir)
        if self._call is None:
            self.backend = "tensorflow"
            signature = [tf.TensorSpec([None, FACE_SIZE, FACE_SIZE, 1], tf.float32)]
            self._call = tf.function(
                lambda x: self._model(x, training=False), input_signature=signature
            )
        self.classify(np.zeros((1, FACE_SIZE, FACE_SIZE), dtype=np.uint8))  # trace before jobs
        log.info("loaded model %s on %s (flip TTA %s)", self.model_id, self.backend, flip_tta)

    def _tflite(self, threads: int, cache_dir: Path | None) -> Any:
        """The model converted for TensorFlow Lite, or None (logged) if that fails here."""
        from worker.tflite_runner import TfliteRunner

        try:
            return TfliteRunner.from_keras(self._model, threads, self.model_id, cache_dir)
        except Exception as exc:  # a converter or interpreter this TensorFlow lacks
            log.warning("TensorFlow Lite unavailable (%s): using the tensorflow backend", exc)
            return None

    @staticmethod
    def _check_shapes(model: Any) -> None:
        expected_in = (None, FACE_SIZE, FACE_SIZE, 1)
        expected_out = (None, len(EMOTIONS))
        if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != expected_out:
            raise ModelError(
                f"expected a model {expected_in} -> {expected_out}, "
                f"got {model.input_shape} -> {model.output_shape}"
            )

    def classify(self, faces: npt.NDArray[np.uint8]) -> Probabilities:
        if len(faces) == 0:
            return np.empty((0, len(EMOTIONS)), dtype=np.float32)
        batch = to_model_batch(faces)
        if self.flip_tta:
            batch = np.concatenate([batch, batch[:, :, ::-1, :]])
        probabilities = np.asarray(self._call(batch), dtype=np.float32)
        if self.flip_tta:
            count = len(faces)
            probabilities = (probabilities[:count] + probabilities[count:]) / 2.0
        return probabilities
