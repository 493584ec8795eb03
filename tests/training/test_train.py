"""Training, resuming and evaluating a tiny real model on a small copy of FER2013."""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from common.wire import EMOTIONS
from tests.training import copy_tree
from training.data import load_folder
from training.evaluate import (
    CONFUSION_FILE,
    CONFUSION_TTA_FILE,
    METRICS_FILE,
    REPORT_FILE,
    evaluate,
    predict_probabilities,
)
from training.model import ModelConfig
from training.train import BEST, CHECKPOINT, STATE, LearningRate, TrainConfig, train

pytestmark = pytest.mark.slow

PER_CLASS = 20


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train/`` with 20 real faces per class and ``test/`` with 4 per class."""
    root = tmp_path_factory.mktemp("fer")
    copy_tree(root / "train", PER_CLASS, "train")
    copy_tree(root / "test", 4, "test")
    return root


@pytest.fixture(scope="module")
def config(data: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainConfig:
    return TrainConfig(
        data=data,
        out_dir=tmp_path_factory.mktemp("run"),
        model=ModelConfig(alpha=0.35, input_size=48),
        epochs=2,
        batch_size=16,
        max_steps_per_epoch=2,
        warmup_epochs=1,
    )


@pytest.fixture(scope="module")
def trained(config: TrainConfig) -> Path:
    return train(config)


def read_state(run: Path) -> dict[str, object]:
    state: dict[str, object] = json.loads((run / STATE).read_text())
    return state


def test_training_writes_the_model_checkpoint_state_and_curves(
    config: TrainConfig, trained: Path
) -> None:
    assert trained == config.out_dir / BEST
    for name in (BEST, CHECKPOINT, STATE, "config.json", "curves.png"):
        assert (config.out_dir / name).is_file(), name
    state = read_state(config.out_dir)
    assert state["epoch"] == 1
    history = state["history"]
    assert isinstance(history, list)
    assert [row["epoch"] for row in history] == [0, 1]
    assert all("val_accuracy" in row for row in history)


def test_the_exported_model_gives_probabilities(data: Path, trained: Path) -> None:
    model = keras.models.load_model(trained, compile=False)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, len(EMOTIONS))
    faces = load_folder(data / "test").images
    probabilities = predict_probabilities(model, faces, batch_size=8)
    assert probabilities.shape == (len(faces), len(EMOTIONS))
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_resume_continues_at_the_next_epoch(
    config: TrainConfig, trained: Path, tmp_path: Path
) -> None:
    run = tmp_path / "resumed"
    shutil.copytree(config.out_dir, run)
    train(replace(config, out_dir=run, epochs=3), resume=True)
    state = read_state(run)
    assert state["epoch"] == 2
    history = state["history"]
    assert isinstance(history, list)
    assert [row["epoch"] for row in history] == [0, 1, 2]


def test_evaluate_writes_metrics_report_and_confusion_images(
    data: Path, trained: Path, tmp_path: Path
) -> None:
    metrics = evaluate(trained, data, "test", tmp_path / "eval", batch_size=8)
    for name in (METRICS_FILE, REPORT_FILE, CONFUSION_FILE, CONFUSION_TTA_FILE):
        assert (tmp_path / "eval" / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "eval" / METRICS_FILE).read_text()) == metrics
    assert metrics["faces"] == 4 * len(EMOTIONS)
    for name in ("plain", "flip_tta"):
        report = metrics[name]
        assert 0.0 <= report["accuracy"] <= 1.0
        assert np.sum(report["confusion"]) == 4 * len(EMOTIONS)
        assert [c["support"] for c in report["per_class"].values()] == [4] * len(EMOTIONS)
    text = (tmp_path / "eval" / REPORT_FILE).read_text()
    assert "| flip TTA |" in text
    assert f"]({CONFUSION_TTA_FILE})" in text


def test_the_learning_rate_warms_up_then_anneals_to_one_percent(data: Path, tmp_path: Path) -> None:
    config = TrainConfig(data=data, out_dir=tmp_path, epochs=10, warmup_epochs=2, learning_rate=0.1)
    schedule = LearningRate(config, steps_per_epoch=100)
    assert schedule.at(0, 0) == pytest.approx(0.1 / 200)
    assert schedule.at(1, 50) == pytest.approx(0.1 * 151 / 200)
    assert schedule.at(2, 0) == pytest.approx(0.1)
    assert schedule.at(6, 0) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert schedule.at(9, 99) == pytest.approx(0.001, rel=0.01)
    rates = [schedule.at(epoch, step) for epoch in range(10) for step in range(100)]
    peak = rates.index(max(rates))
    assert all(a <= b for a, b in itertools.pairwise(rates[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(rates[peak:]))


def test_the_worker_path_and_the_keras_model_score_alike(
    data: Path, trained: Path, tmp_path: Path
) -> None:
    served = evaluate(trained, data, "test", tmp_path / "litert", cache_dir=tmp_path / "cache")
    direct = evaluate(trained, data, "test", tmp_path / "keras", runtime="keras")
    assert served["runtime"] == "litert" and direct["runtime"] == "keras"
    assert served["plain"]["confusion"] == direct["plain"]["confusion"]
    assert "the worker's path (LiteRT" in (tmp_path / "litert" / REPORT_FILE).read_text()
