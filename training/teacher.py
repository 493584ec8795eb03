"""Soft targets from trained models (distillation): what a run learns besides the labels.

FER2013's labels are noisy (people agree on about 65% of its faces) and one-hot. A teacher
(one or more trained emotion models, each scored with ten-crop test-time augmentation,
``training.evaluate.ten_crops``) gives every training face a distribution over the seven
classes instead. Training on a blend of the label and that distribution moves what ten-crop
TTA adds into a single plain call, the one a worker serves.

The targets are computed once per run and kept in the run folder (``teacher.npy``, never
committed: it is made from FER2013), so a resumed run reuses them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.wire import EMOTIONS
from training.data import FaceDataset
from training.evaluate import load_model, predict_probabilities, ten_crops

log = logging.getLogger(__name__)

TEACHER_FILE = "teacher.npy"
CROPS = 10

Targets = npt.NDArray[np.float32]


def ten_crop_probabilities(model_path: Path, faces: npt.NDArray[np.uint8]) -> Targets:
    """(N, 7): the mean of one model's probabilities over each face's ten crops."""
    model = load_model(model_path)
    probabilities = predict_probabilities(model, ten_crops(faces), batch_size=512)
    mean = probabilities.reshape(len(faces), CROPS, len(EMOTIONS)).mean(axis=1)
    return np.asarray(mean, dtype=np.float32)


def soften(probabilities: Targets, temperature: float) -> Targets:
    """``softmax(log p / temperature)``: a temperature above 1 flattens the distribution."""
    if temperature <= 0:
        raise ValueError(f"expected a positive temperature, got {temperature}")
    logits = np.log(np.clip(probabilities, 1e-7, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


def teacher_targets(
    teachers: Sequence[Path], dataset: FaceDataset, temperature: float, out_dir: Path
) -> Targets:
    """The teachers' mean ten-crop distribution per face of ``dataset``, softened; cached."""
    cache = Path(out_dir) / TEACHER_FILE
    if cache.exists():
        cached = np.load(cache)
        if cached.shape == (len(dataset), len(EMOTIONS)):
            log.info("teacher targets from %s", cache)
            return np.asarray(cached, dtype=np.float32)
        log.warning("ignoring %s: shape %s, expected %d faces", cache, cached.shape, len(dataset))
    mean = np.zeros((len(dataset), len(EMOTIONS)), dtype=np.float32)
    for path in teachers:
        log.info("teacher %s: ten-crop on %d faces", path, len(dataset))
        probabilities = ten_crop_probabilities(path, dataset.images)
        agreement = float(np.mean(probabilities.argmax(axis=1) == dataset.labels))
        log.info("teacher %s agrees with %.4f of the labels", path, agreement)
        mean += probabilities / len(teachers)
    targets = soften(mean, temperature)
    np.save(cache, targets)
    return targets


def blend(labels_one_hot: Targets, soft: Targets, weight: float) -> Targets:
    """``(1 - weight) * labels + weight * soft``: the distribution each face is trained on."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"expected a distillation weight in [0, 1], got {weight}")
    return np.asarray((1.0 - weight) * labels_one_hot + weight * soft, dtype=np.float32)
