"""The emotion model: a MobileNetV2 backbone behind a 48x48 grayscale face input.

Input: (N, 48, 48, 1) float32 faces with values 0..255 (see common.preprocessing).
Inside the model the face is resized to the backbone's resolution, scaled to [-1, 1]
and replicated to three channels, so ImageNet weights fit when a user has them.
Output: (N, 7) softmax probabilities in the project's label order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import keras

from common.layers import GaussianBlur
from common.preprocessing import FACE_SIZE
from common.wire import EMOTIONS


@dataclass(frozen=True)
class ModelConfig:
    input_size: int = 96
    alpha: float = 0.75
    dropout: float = 0.2
    bn_momentum: float = 0.9  # Keras's 0.999 leaves inference-mode statistics unusable
    weights: str | None = None  # None, "imagenet" or a path to a weights file
    # Blur applied to served faces only, to match blurred training images (common.layers).
    serving_blur_sigma: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(config: ModelConfig, serving: bool = False) -> keras.Model:
    """A fresh (or ImageNet-initialised) MobileNetV2 emotion classifier.

    ``serving`` adds the fixed ``serving_blur_sigma`` blur in front (no weights, so the
    weights of a training model and of its serving model line up one to one).
    """
    face = keras.Input((FACE_SIZE, FACE_SIZE, 1), name="face")
    x = face
    if serving and config.serving_blur_sigma > 0:
        x = GaussianBlur(config.serving_blur_sigma, name="match_training_blur")(x)
    x = keras.layers.Resizing(config.input_size, config.input_size, name="upscale")(x)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(x)
    x = keras.layers.Concatenate(name="to_rgb")([x, x, x])
    backbone = keras.applications.MobileNetV2(
        input_shape=(config.input_size, config.input_size, 3),
        alpha=config.alpha,
        include_top=False,
        weights=config.weights,
        pooling="avg",
    )
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = config.bn_momentum
    x = backbone(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    probabilities = keras.layers.Dense(
        len(EMOTIONS), activation="softmax", dtype="float32", name="emotion"
    )(x)
    name = f"ferstream_mnv2_a{config.alpha:g}_{config.input_size}"
    return keras.Model(face, probabilities, name=name.replace(".", "_"))


def export_float32(trained: keras.Model, config: ModelConfig) -> keras.Model:
    """The trained weights in a float32 model with no optimizer: what ships and serves."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        exported = build_model(ModelConfig(**{**config.to_dict(), "weights": None}), serving=True)
    finally:
        keras.config.set_dtype_policy(previous)
    exported.set_weights(trained.get_weights())
    return exported
