"""The shipped model through the evaluation path, and load errors a user can hit."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from common import defaults
from common.errors import ModelError
from common.wire import EMOTIONS
from tests.training import copy_tree
from training.data import load_folder
from training.evaluate import load_model, predict_probabilities, ten_crops


@pytest.fixture(scope="module")
def faces_and_labels(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """20 faces per class from ``train/``: the images the shipped model was fitted on."""
    dataset = load_folder(copy_tree(tmp_path_factory.mktemp("train"), 20, "train"))
    return dataset.images, dataset.labels


@pytest.mark.slow
def test_shipped_model_reproduces_its_training_and_flip_tta_averages_the_mirror(
    faces_and_labels: tuple[np.ndarray, np.ndarray],
) -> None:
    if not defaults.DEFAULT_MODEL_PATH.is_file():
        pytest.skip(f"no shipped model at {defaults.DEFAULT_MODEL_PATH}")
    model = load_model(defaults.DEFAULT_MODEL_PATH)
    faces, labels = faces_and_labels
    plain = predict_probabilities(model, faces, batch_size=32)
    mirrored = predict_probabilities(model, faces[:, :, ::-1].copy(), batch_size=32)
    tta = predict_probabilities(model, faces, batch_size=32, flip_tta=True)
    assert plain.shape == tta.shape == (len(faces), len(EMOTIONS))
    np.testing.assert_allclose(plain.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tta, (plain + mirrored) / 2.0, atol=1e-5)
    # Training faces, so this checks the file and the input and label contract, not
    # generalisation: a wrong label order or input scale falls to chance (1/7).
    assert (plain.argmax(axis=1) == labels).mean() > 0.4


def test_predict_refuses_faces_of_the_wrong_shape() -> None:
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match=r"expected \(N, 48, 48\) faces"):
        predict_probabilities(model, np.zeros((2, 48, 48, 3), dtype=np.uint8))


def test_a_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing path"):
        load_model(tmp_path / "none.keras")


def test_a_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ModelError, match="cannot load model"):
        load_model(path)


def test_a_model_of_the_wrong_shape_is_a_model_error(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((48, 48, 3)), keras.layers.Flatten()])
    model.save(tmp_path / "rgb.keras")
    with pytest.raises(ModelError, match=r"expected a model \(None, 48, 48, 1\) -> \(None, 7\)"):
        load_model(tmp_path / "rgb.keras")


def test_ten_crops_are_five_crops_and_their_mirrors() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    crops = ten_crops(faces)
    assert crops.shape == (20, 48, 48) and crops.dtype == np.uint8
    for pair in range(10):
        np.testing.assert_array_equal(crops[2 * pair + 1], crops[2 * pair][:, ::-1])
    assert len({crops[k].tobytes() for k in range(0, 10, 2)}) == 5  # five different crops
    flat = np.full((1, 48, 48), 77, dtype=np.uint8)
    assert (ten_crops(flat) == 77).all()  # a crop only reframes the face
