"""Augmentation, mixup, class weights and the training batches built from them."""

from __future__ import annotations

import numpy as np
import pytest

from common.wire import EMOTIONS
from training.augment import AugmentConfig, augment_images, mixup
from training.batches import BatchFeeder, class_weights, one_hot
from training.data import FaceDataset

NO_AUGMENT = AugmentConfig(
    flip=False,
    max_rotation_deg=0.0,
    max_shift=0.0,
    zoom=(1.0, 1.0),
    brightness=0.0,
    contrast=0.0,
    erase_prob=0.0,
    mixup_prob=0.0,
)


@pytest.fixture
def faces() -> np.ndarray:
    """Sixteen textured faces: gradients with noise, so every transform shows."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 200, 48, dtype=np.float32)
    base = ramp[None, :, None] + ramp[None, None, :] / 4
    return np.clip(base + rng.normal(0, 20, (16, 48, 48)), 0, 255).astype(np.uint8)


def test_augmented_faces_keep_shape_and_range(faces: np.ndarray) -> None:
    out = augment_images(faces, np.random.default_rng(1), AugmentConfig())
    assert out.shape == faces.shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 255.0
    assert not np.allclose(out, faces)


def test_augmentation_is_reproducible_from_the_seed(faces: np.ndarray) -> None:
    first = augment_images(faces, np.random.default_rng(3), AugmentConfig())
    again = augment_images(faces, np.random.default_rng(3), AugmentConfig())
    other = augment_images(faces, np.random.default_rng(4), AugmentConfig())
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_augmentation_switched_off_returns_the_faces(faces: np.ndarray) -> None:
    out = augment_images(faces, np.random.default_rng(0), NO_AUGMENT)
    np.testing.assert_allclose(out, faces, atol=1e-3)


def test_a_flip_only_config_mirrors_or_keeps_each_face(faces: np.ndarray) -> None:
    config = AugmentConfig(**{**NO_AUGMENT.__dict__, "flip": True})
    out = augment_images(faces, np.random.default_rng(0), config)
    mirrored = [np.allclose(o, f[:, ::-1], atol=1e-3) for o, f in zip(out, faces, strict=True)]
    kept = [np.allclose(o, f, atol=1e-3) for o, f in zip(out, faces, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert any(mirrored)
    assert any(kept)


def test_erasing_paints_a_patch(faces: np.ndarray) -> None:
    config = AugmentConfig(**{**NO_AUGMENT.__dict__, "erase_prob": 1.0})
    out = augment_images(faces, np.random.default_rng(0), config)
    changed = np.abs(out - faces) > 1e-3
    assert all(changed[i].any() for i in range(len(faces)))
    assert changed.mean() < 0.25  # at most 20% of the area each, by default


@pytest.mark.parametrize("seed", range(5))
def test_mixup_targets_stay_distributions(faces: np.ndarray, seed: int) -> None:
    config = AugmentConfig(mixup_prob=1.0)
    labels = np.arange(16) % 7
    images, targets = mixup(
        faces.astype(np.float32), one_hot(labels), np.random.default_rng(seed), config
    )
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    assert targets.max(axis=1).min() >= 0.5 - 1e-6  # the original face stays dominant
    assert images.dtype == np.float32
    assert images.shape == faces.shape


def test_mixup_off_changes_nothing(faces: np.ndarray) -> None:
    images = faces.astype(np.float32)
    targets = one_hot(np.arange(16) % 7)
    out_images, out_targets = mixup(images, targets, np.random.default_rng(0), NO_AUGMENT)
    assert out_images is images
    assert out_targets is targets


COUNTS = np.array([3995, 436, 4097, 7215, 4965, 4830, 3171])


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_class_weights_average_one_per_sample(power: float) -> None:
    weights = class_weights(COUNTS, power)
    assert weights.dtype == np.float32
    assert float((weights * COUNTS).sum() / COUNTS.sum()) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    ("power", "ratio"),
    [(0.0, 1.0), (0.5, (7215 / 436) ** 0.5), (1.0, 7215 / 436)],
)
def test_class_weights_favour_rare_classes_by_the_power(power: float, ratio: float) -> None:
    weights = class_weights(COUNTS, power)
    disgust, happy = EMOTIONS.index("disgust"), EMOTIONS.index("happy")
    assert weights[disgust] / weights[happy] == pytest.approx(ratio, rel=1e-5)


def test_class_weights_survive_an_empty_class() -> None:
    weights = class_weights(np.array([10, 0, 10, 10, 10, 10, 10]), 0.5)
    assert np.isfinite(weights).all()


def test_batches_are_full_weighted_and_reproducible(faces: np.ndarray) -> None:
    dataset = FaceDataset(np.concatenate([faces, faces]), (np.arange(32) % 7).astype(np.int64))
    weights = class_weights(dataset.class_counts(), 0.5)

    def feeder() -> BatchFeeder:
        return BatchFeeder(dataset, 10, AugmentConfig(mixup_prob=0.5), weights, seed=5)

    made = list(feeder().epoch(0, 3))
    assert len(made) == 3
    images, targets, sample_weights = made[1]
    assert images.shape == (10, 48, 48, 1)
    assert targets.shape == (10, len(EMOTIONS))
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    assert sample_weights.shape == (10,)
    np.testing.assert_array_equal(feeder().batch(0, 1)[0], images)  # threaded or not, the same
    assert not np.array_equal(feeder().batch(1, 1)[0], images)  # a new epoch reshuffles


def test_an_error_in_the_feeder_thread_reaches_the_training_loop(faces: np.ndarray) -> None:
    dataset = FaceDataset(faces, (np.arange(16) % 7).astype(np.int64))
    weights = np.ones(3, dtype=np.float32)  # too few classes: indexing fails on the thread

    with pytest.raises(IndexError):
        list(BatchFeeder(dataset, 8, AugmentConfig(), weights, seed=1).epoch(0, 2))
