"""Emotion classification behind a small protocol; the real one is the project's model on LiteRT.

All faces of a call go through the model in one batch. The worker serves the shipped
``.keras`` model's TensorFlow Lite conversion (``worker.model_file``) on LiteRT's
interpreter (``worker.tflite_runner``), so a worker process imports neither TensorFlow nor
Keras. Its probabilities match the Keras model's within 1e-4 (tested).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from common.errors import ModelError
from common.preprocessing import FACE_SIZE, to_model_batch
from common.wire import EMOTIONS
from worker.model_file import ServingModel, serving_model
from worker.tflite_runner import TfliteRunner

log = logging.getLogger(__name__)

Probabilities = npt.NDArray[np.float32]


class EmotionClassifier(Protocol):
    model_id: str

    def classify(self, faces: npt.NDArray[np.uint8]) -> Probabilities:
        """(N, 7) probabilities for (N, 48, 48) uint8 faces, in EMOTIONS order."""
        ...


class LiteRtEmotionClassifier:
    """Loads the served ``.tflite`` model once and classifies face batches with it."""

    def __init__(self, model: ServingModel, threads: int = 1, flip_tta: bool = False) -> None:
        self._run = TfliteRunner(model.path, threads)
        self._check_shapes(self._run, model.path)
        self.model_id = model.model_id
        self.flip_tta = flip_tta
        self.classify(np.zeros((1, FACE_SIZE, FACE_SIZE), dtype=np.uint8))  # plan before jobs
        log.info("loaded model %s on LiteRT (flip TTA %s)", self.model_id, flip_tta)

    @classmethod
    def from_model_file(
        cls,
        model_path: Path,
        cache_dir: Path | None = None,
        threads: int = 1,
        flip_tta: bool = False,
    ) -> LiteRtEmotionClassifier:
        """The shipped ``.keras`` model (converted when missing) or a ``.tflite`` file."""
        return cls(serving_model(model_path, cache_dir), threads, flip_tta)

    @staticmethod
    def _check_shapes(run: TfliteRunner, path: Path) -> None:
        expected_in, expected_out = (FACE_SIZE, FACE_SIZE, 1), (len(EMOTIONS),)
        if run.input_shape[1:] != expected_in or run.output_shape[1:] != expected_out:
            raise ModelError(
                f"expected a model (None, 48, 48, 1) -> (None, 7), got {path} with "
                f"{run.input_shape} -> {run.output_shape}"
            )

    def classify(self, faces: npt.NDArray[np.uint8]) -> Probabilities:
        if len(faces) == 0:
            return np.empty((0, len(EMOTIONS)), dtype=np.float32)
        batch = to_model_batch(faces)
        if self.flip_tta:
            batch = np.concatenate([batch, batch[:, :, ::-1, :]])
        probabilities = self._run(batch)
        if self.flip_tta:
            count = len(faces)
            probabilities = (probabilities[:count] + probabilities[count:]) / 2.0
        return probabilities
