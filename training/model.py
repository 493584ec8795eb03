"""The emotion model: MobileNetV2 on a 48x48 grayscale face, with its strides a setting.

Input: (N, 48, 48, 1) float32 faces with values 0..255 (see common.preprocessing).
Inside the model the face is resized to ``input_size`` if that is not 48, and scaled to
[-1, 1]. Output: (N, 7) softmax probabilities in the project's label order.

The backbone is MobileNetV2's (Sandler et al. 2018): a 3x3 stem, 17 inverted residual
blocks, a 1x1 head and global average pooling. It downsamples at five points (the stem
and the first block of the 24, 32, 64 and 160-channel stages); ``downsample`` says
which of those halve the map. Stock MobileNetV2 halves at all five, which turns a 48x48
face into a 2x2 map; ``(2, 2, 2, 2, 1)`` keeps 3x3. Only standard Keras layers are
used, so the file loads anywhere Keras does and converts to TensorFlow Lite as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import keras

from common.preprocessing import FACE_SIZE
from common.wire import EMOTIONS

# (expansion, output channels, blocks, downsampling point or None) per stage, as in the paper
STAGES: tuple[tuple[int, int, int, int | None], ...] = (
    (1, 16, 1, None),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 3),
    (6, 96, 3, None),
    (6, 160, 3, 4),
    (6, 320, 1, None),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class ModelConfig:
    input_size: int = 48
    alpha: float = 1.0
    downsample: tuple[int, int, int, int, int] = (2, 2, 2, 2, 1)
    dropout: float = 0.2
    bn_momentum: float = 0.9  # Keras's 0.999 leaves inference-mode statistics unusable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def name(self) -> str:
        strides = "".join(str(s) for s in self.downsample)
        return f"ferstream_mnv2_a{self.alpha:g}_{self.input_size}_s{strides}".replace(".", "_")


def build_model(config: ModelConfig) -> keras.Model:
    """A freshly initialised MobileNetV2 emotion classifier."""
    if len(config.downsample) != 5 or any(s not in (1, 2) for s in config.downsample):
        raise ValueError(f"expected five strides of 1 or 2, got {config.downsample}")
    face = keras.Input((FACE_SIZE, FACE_SIZE, 1), name="face")
    x = face
    if config.input_size != FACE_SIZE:
        x = keras.layers.Resizing(config.input_size, config.input_size, name="resize")(x)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(x)
    x = _conv_bn(x, _width(STEM_CHANNELS, config.alpha), 3, config.downsample[0], config, "stem")
    block = 0
    for expansion, channels, repeats, point in STAGES:
        for index in range(repeats):
            stride = config.downsample[point] if (point is not None and index == 0) else 1
            x = _inverted_residual(
                x, expansion, _width(channels, config.alpha), stride, config, f"block{block}"
            )
            block += 1
    head = max(HEAD_CHANNELS, _width(HEAD_CHANNELS, config.alpha))
    x = _conv_bn(x, head, 1, 1, config, "head")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    probabilities = keras.layers.Dense(
        len(EMOTIONS), activation="softmax", dtype="float32", name="emotion"
    )(x)
    return keras.Model(face, probabilities, name=config.name)


def _width(channels: int, alpha: float, divisor: int = 8) -> int:
    """Channels scaled by ``alpha``, rounded to a multiple of 8, as MobileNetV2 rounds them."""
    scaled = channels * alpha
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def _bn(x: Any, config: ModelConfig, name: str) -> Any:
    return keras.layers.BatchNormalization(momentum=config.bn_momentum, epsilon=1e-3, name=name)(x)


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, config: ModelConfig, name: str) -> Any:
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = _bn(x, config, f"{name}_bn")
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)


def _inverted_residual(
    x: Any, expansion: int, filters: int, stride: int, config: ModelConfig, name: str
) -> Any:
    inputs = x
    in_channels = int(x.shape[-1])
    if expansion != 1:
        x = _conv_bn(x, in_channels * expansion, 1, 1, config, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(
        3, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = _bn(x, config, f"{name}_depthwise_bn")
    x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    residual = stride == 1 and in_channels == filters
    # A residual block starts as the identity (its last BatchNorm scale at zero): steadier
    # early training from scratch, as for ResNets (Goyal et al. 2017).
    x = keras.layers.BatchNormalization(
        momentum=config.bn_momentum,
        epsilon=1e-3,
        gamma_initializer="zeros" if residual else "ones",
        name=f"{name}_project_bn",
    )(x)
    if residual:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def export_float32(trained: keras.Model, config: ModelConfig) -> keras.Model:
    """The trained weights in a float32 model with no optimizer: what ships and serves."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        exported = build_model(config)
    finally:
        keras.config.set_dtype_policy(previous)
    exported.set_weights(trained.get_weights())
    return exported
