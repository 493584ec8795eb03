"""Augmented, class-weighted training batches, made by a background thread ahead of the step."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from common.wire import EMOTIONS
from training.augment import AugmentConfig, augment_images, mixup
from training.data import FaceDataset

Batch = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]
AHEAD = 3  # batches made in advance; OpenCV and numpy release the GIL while they work


def class_weights(counts: npt.NDArray[np.int64], power: float) -> npt.NDArray[np.float32]:
    """Per-class weights ``(mean count / count) ** power``, normalised to a sample mean of 1."""
    counts = np.maximum(counts, 1)
    weights = np.asarray((counts.mean() / counts) ** power, dtype=np.float64)
    weights /= (weights * counts).sum() / counts.sum()
    return np.asarray(weights, dtype=np.float32)


def one_hot(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    return np.eye(len(EMOTIONS), dtype=np.float32)[labels]


class BatchFeeder:
    """Full batches of augmented faces, reshuffled every epoch, reproducible from the seed.

    Each face's target is its one-hot label unless ``targets`` gives a distribution per face.

    Batch ``i`` of epoch ``e`` depends only on (seed, e, i), so a resumed run sees the
    batches an uninterrupted one would have.
    """

    def __init__(
        self,
        dataset: FaceDataset,
        batch_size: int,
        augment: AugmentConfig,
        weights: npt.NDArray[np.float32],
        seed: int,
        targets: npt.NDArray[np.float32] | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.augment = augment
        self.weights = weights
        self.seed = seed
        self.targets = one_hot(dataset.labels) if targets is None else targets
        if self.targets.shape != (len(dataset), len(EMOTIONS)):
            raise ValueError(
                f"expected targets of shape {(len(dataset), len(EMOTIONS))}, "
                f"got {self.targets.shape}"
            )

    def batch(self, epoch: int, index: int) -> Batch:
        return self._make(self._order(epoch), epoch, index)

    def epoch(self, epoch: int, steps: int) -> Iterator[Batch]:
        """``steps`` batches of ``epoch``, each made on a background thread ahead of its use."""
        order = self._order(epoch)
        ready: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=AHEAD)
        stop = threading.Event()

        def produce() -> None:
            try:
                for index in range(steps):
                    if stop.is_set():
                        return
                    ready.put(self._make(order, epoch, index))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                ready.put(exc)

        thread = threading.Thread(target=produce, name="batch-feeder", daemon=True)
        thread.start()
        try:
            for _ in range(steps):
                item = ready.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.1)
            thread.join()

    def _order(self, epoch: int) -> npt.NDArray[np.int64]:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))

    def _make(self, order: npt.NDArray[np.int64], epoch: int, index: int) -> Batch:
        rng = np.random.default_rng([self.seed, epoch, index])
        picks = order[index * self.batch_size : (index + 1) * self.batch_size]
        labels = self.dataset.labels[picks]
        images = augment_images(self.dataset.images[picks], rng, self.augment)
        images, targets = mixup(images, self.targets[picks], rng, self.augment)
        return images[..., np.newaxis], targets, self.weights[labels]
