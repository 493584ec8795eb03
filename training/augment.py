"""Face augmentation on 48x48 uint8 batches, on the host with OpenCV.

Geometric jitter (flip, rotation, shift, zoom), photometric jitter (brightness,
contrast), random erasing and mixup. Kept on the host so every Keras backend
(TensorFlow on CPU, JAX on a GPU) trains on exactly the same recipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from common.preprocessing import FACE_SIZE

Images = npt.NDArray[np.uint8]
FloatImages = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.1  # of the side
    zoom: tuple[float, float] = (0.9, 1.1)
    brightness: float = 0.2  # +- fraction of 255
    contrast: float = 0.25  # multiply by 1 +- this
    erase_prob: float = 0.4
    erase_area: tuple[float, float] = (0.02, 0.15)
    mixup_prob: float = 0.0
    mixup_alpha: float = 0.4


def augment_images(images: Images, rng: np.random.Generator, config: AugmentConfig) -> FloatImages:
    """Randomly transformed float32 copies of ``images`` (B, 48, 48), values in 0..255."""
    out = np.empty(images.shape, dtype=np.float32)
    for index, image in enumerate(images):
        out[index] = _warp(image, rng, config)
    _jitter_photometric(out, rng, config)
    _erase(out, rng, config)
    return out


def _warp(image: Images, rng: np.random.Generator, config: AugmentConfig) -> FloatImages:
    angle = rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)
    scale = rng.uniform(*config.zoom)
    centre = (FACE_SIZE / 2.0, FACE_SIZE / 2.0)
    matrix = np.asarray(cv2.getRotationMatrix2D(centre, angle, scale), dtype=np.float64)
    matrix[:, 2] += rng.uniform(-config.max_shift, config.max_shift, size=2) * FACE_SIZE
    if config.flip and rng.random() < 0.5:
        matrix[0, :] *= -1.0
        matrix[0, 2] += FACE_SIZE - 1
    warped = cv2.warpAffine(
        image,
        matrix,
        (FACE_SIZE, FACE_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    return warped.astype(np.float32)


def _jitter_photometric(
    batch: FloatImages, rng: np.random.Generator, config: AugmentConfig
) -> None:
    size = len(batch)
    contrast = rng.uniform(1.0 - config.contrast, 1.0 + config.contrast, size)[:, None, None]
    brightness = rng.uniform(-config.brightness, config.brightness, size)[:, None, None] * 255.0
    means = batch.mean(axis=(1, 2), keepdims=True)
    np.clip((batch - means) * contrast + means + brightness, 0.0, 255.0, out=batch)


def _erase(batch: FloatImages, rng: np.random.Generator, config: AugmentConfig) -> None:
    for image in batch:
        if rng.random() >= config.erase_prob:
            continue
        area = rng.uniform(*config.erase_area) * FACE_SIZE * FACE_SIZE
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
        h = min(FACE_SIZE, max(1, round(math.sqrt(area * aspect))))
        w = min(FACE_SIZE, max(1, round(math.sqrt(area / aspect))))
        y = int(rng.integers(0, FACE_SIZE - h + 1))
        x = int(rng.integers(0, FACE_SIZE - w + 1))
        image[y : y + h, x : x + w] = rng.uniform(0.0, 255.0, size=(h, w))


def mixup(
    images: FloatImages, targets: FloatImages, rng: np.random.Generator, config: AugmentConfig
) -> tuple[FloatImages, FloatImages]:
    """With probability ``mixup_prob``, blend the batch with a shuffled copy of itself."""
    if rng.random() >= config.mixup_prob:
        return images, targets
    lam = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
    lam = max(lam, 1.0 - lam)  # keep the original image dominant
    order = rng.permutation(len(images))
    mixed_images = lam * images + (1.0 - lam) * images[order]
    mixed_targets = lam * targets + (1.0 - lam) * targets[order]
    return mixed_images.astype(np.float32), mixed_targets.astype(np.float32)
