"""Weight averaging across the ends of learning-rate cycles (SWA, Izmailov et al. 2018).

With a cyclic rate, each cycle ends in a low-rate model. Their running mean sits nearer
the middle of the flat region they share and generalises better than any one of them. The
mean of BatchNorm statistics is not the statistics of the mean weights, so they are
measured again (``recalibrate_batchnorm``) before the averaged model is scored or saved.
The running mean is kept in the run folder, so a resumed run goes on averaging.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from common.preprocessing import to_model_batch

log = logging.getLogger(__name__)

AVERAGE_FILE = "average.npz"
RECALIBRATION_FACES = 8192
RECALIBRATION_BATCH = 256

Weights = list[npt.NDArray[np.float64]]


class WeightAverage:
    """The running mean of a model's weights over the snapshots added to it."""

    def __init__(self, mean: Weights | None = None, epochs: list[int] | None = None) -> None:
        self.mean = mean
        self.epochs = epochs or []

    @property
    def count(self) -> int:
        return len(self.epochs)

    def add(self, model: keras.Model, epoch: int) -> None:
        """Add the model as it is after ``epoch``, once (a resumed run may end it again)."""
        if epoch in self.epochs:
            return
        weights = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
        if self.mean is None:
            self.mean = weights
        else:
            if len(weights) != len(self.mean):
                raise ValueError(f"expected {len(self.mean)} weight arrays, got {len(weights)}")
            for mean, new in zip(self.mean, weights, strict=True):
                mean += (new - mean) / (self.count + 1)
        self.epochs.append(epoch)

    def apply_to(self, model: keras.Model) -> None:
        if self.mean is None:
            raise ValueError("expected at least one snapshot in the average")
        model.set_weights([m.astype(np.float32) for m in self.mean])

    def save(self, path: Path) -> None:
        if self.mean is None:
            return
        arrays: dict[str, Any] = {f"w{i}": m for i, m in enumerate(self.mean)}
        arrays["epochs"] = np.asarray(self.epochs, dtype=np.int64)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> WeightAverage:
        if not Path(path).exists():
            return cls()
        with np.load(path) as stored:
            epochs = [int(epoch) for epoch in stored["epochs"]]
            mean = [np.asarray(stored[f"w{i}"]) for i in range(len(stored.files) - 1)]
        return cls(mean, epochs)


def recalibrate_batchnorm(model: keras.Model, faces: npt.NDArray[np.uint8], seed: int = 0) -> None:
    """Measure every BatchNorm layer's moving statistics afresh on ``faces`` (un-augmented).

    Each layer's momentum is set to give every batch an equal share (a cumulative mean),
    then restored.
    """
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    picks = np.random.default_rng(seed).permutation(len(faces))[:RECALIBRATION_FACES]
    batches = range(0, len(picks), RECALIBRATION_BATCH)
    try:
        for number, start in enumerate(batches):
            for layer in layers:  # the n-th batch gets weight 1/(n+1): a plain mean
                layer.momentum = number / (number + 1.0)
            batch = to_model_batch(faces[picks[start : start + RECALIBRATION_BATCH]])
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    log.info("BatchNorm statistics measured again on %d faces", len(picks))
