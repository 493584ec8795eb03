"""The MobileNetV2 builder: strides as a setting, standard layers only, the contract's shapes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from common.wire import EMOTIONS
from training.model import ModelConfig, build_model, export_float32


@pytest.mark.parametrize(
    ("downsample", "final_side"),
    [((2, 2, 2, 2, 2), 2), ((2, 2, 2, 2, 1), 3), ((2, 2, 2, 1, 1), 6), ((1, 2, 2, 2, 2), 3)],
)
def test_the_strides_set_the_final_map(
    downsample: tuple[int, int, int, int, int], final_side: int
) -> None:
    model = build_model(ModelConfig(alpha=0.35, downsample=downsample))
    assert model.get_layer("head_relu").output.shape[1:3] == (final_side, final_side)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, len(EMOTIONS))


def test_a_residual_block_starts_as_the_identity() -> None:
    model = build_model(ModelConfig(alpha=0.35))
    added = model.get_layer("block2_add")  # the second 24-channel block
    gamma = model.get_layer("block2_project_bn").gamma.numpy()
    assert added is not None and not gamma.any()
    assert model.get_layer("block1_project_bn").gamma.numpy().all()  # no residual: scale 1


@pytest.mark.parametrize("downsample", [(2, 2, 2, 2), (2, 2, 2, 2, 3)])
def test_strides_other_than_five_ones_or_twos_are_refused(downsample: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected five strides of 1 or 2"):
        build_model(ModelConfig(downsample=downsample))  # type: ignore[arg-type]


def test_the_exported_copy_computes_what_the_trained_model_does() -> None:
    config = ModelConfig(alpha=0.35, input_size=64)
    trained = build_model(config)
    faces = np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 1)).astype(np.float32)
    exported = export_float32(trained, config)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(exported(faces, training=False)),
        keras.ops.convert_to_numpy(trained(faces, training=False)),
        atol=1e-6,
    )
    assert exported.name == trained.name == "ferstream_mnv2_a0_35_64_s22221"
