"""Augmented, class-weighted training batches as a Keras PyDataset."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from common.wire import EMOTIONS
from training.augment import AugmentConfig, augment_images, mixup
from training.data import FaceDataset


def class_weights(counts: npt.NDArray[np.int64], power: float) -> npt.NDArray[np.float32]:
    """Per-class weights ``(mean count / count) ** power``, normalised to a sample mean of 1."""
    counts = np.maximum(counts, 1)
    weights = np.asarray((counts.mean() / counts) ** power, dtype=np.float64)
    weights /= (weights * counts).sum() / counts.sum()
    return np.asarray(weights, dtype=np.float32)


def one_hot(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    return np.eye(len(EMOTIONS), dtype=np.float32)[labels]


class AugmentedBatches(keras.utils.PyDataset):  # type: ignore[misc]
    """Full batches of augmented faces, reshuffled every epoch, reproducible from the seed."""

    def __init__(
        self,
        dataset: FaceDataset,
        batch_size: int,
        augment: AugmentConfig,
        weights: npt.NDArray[np.float32],
        seed: int,
        first_epoch: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.batch_size = batch_size
        self.augment = augment
        self.weights = weights
        self.seed = seed
        self.epoch = first_epoch
        self._order = self._shuffled()

    def __len__(self) -> int:
        return len(self.dataset) // self.batch_size

    def __getitem__(self, index: int) -> tuple[Any, Any, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        picks = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        labels = self.dataset.labels[picks]
        images = augment_images(self.dataset.images[picks], rng, self.augment)
        images, targets = mixup(images, one_hot(labels), rng, self.augment)
        return images[..., np.newaxis], targets, self.weights[labels]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._shuffled()

    def _shuffled(self) -> npt.NDArray[np.int64]:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.dataset))
