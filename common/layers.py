"""Custom Keras layers saved inside the project's model files.

Import this module before loading a model (``worker.classifier`` and ``training`` do).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="ferstream", name="GaussianBlur")
class GaussianBlur(keras.layers.Layer):  # type: ignore[misc]
    """A fixed Gaussian blur with reflected borders, as ``cv2.GaussianBlur`` computes it.

    The shared FER2013 ``train/`` images are blurred (sigma about 3 px at 48x48) while
    camera faces are sharp; a model trained on them sees camera faces the same way
    through this layer. ``sigma`` 0 passes the input through.
    """

    def __init__(self, sigma: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sigma = float(sigma)
        self.radius = max(1, math.ceil(3.0 * self.sigma)) if self.sigma > 0 else 0
        self.trainable = False

    def _kernel(self, channels: int) -> Any:
        offsets = np.arange(-self.radius, self.radius + 1, dtype=np.float64)
        weights = np.exp(-(offsets**2) / (2.0 * self.sigma**2))
        weights /= weights.sum()
        kernel = np.outer(weights, weights)[:, :, None, None]
        return keras.ops.convert_to_tensor(
            np.repeat(kernel, channels, axis=2).astype(np.float32), dtype=self.compute_dtype
        )

    def call(self, inputs: Any) -> Any:
        if self.radius == 0:
            return inputs
        r = self.radius
        padded = keras.ops.pad(inputs, [[0, 0], [r, r], [r, r], [0, 0]], mode="reflect")
        return keras.ops.depthwise_conv(
            padded, self._kernel(int(inputs.shape[-1])), padding="valid"
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sigma": self.sigma}
