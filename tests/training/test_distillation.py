"""Distillation targets, cyclic rates and weight averaging, on real faces and a real model."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from common.preprocessing import to_model_batch
from common.wire import EMOTIONS
from tests.training import copy_tree
from training.augment import AugmentConfig
from training.averaging import AVERAGE_FILE, WeightAverage, recalibrate_batchnorm
from training.batches import BatchFeeder, one_hot
from training.data import load_folder
from training.model import ModelConfig, build_model
from training.teacher import TEACHER_FILE, blend, soften, teacher_targets
from training.train import BEST, STATE, LearningRate, TrainConfig, train

TINY = ModelConfig(alpha=0.35, input_size=48)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fer")
    copy_tree(root / "train", 20, "train")
    copy_tree(root / "test", 4, "test")
    return root


def test_softening_flattens_and_keeps_the_order() -> None:
    sharp = np.asarray([[0.9, 0.05, 0.05, 0, 0, 0, 0]], dtype=np.float32)
    soft = soften(sharp, 2.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    assert soft[0, 0] < 0.9 and soft[0, 1] > 0.05
    assert soft.argmax() == 0
    np.testing.assert_allclose(soften(sharp, 1.0)[0, :3], [0.9, 0.05, 0.05], atol=1e-5)
    with pytest.raises(ValueError, match="positive temperature"):
        soften(sharp, 0.0)


def test_the_blend_is_the_weighted_mean_of_label_and_teacher() -> None:
    labels = one_hot(np.asarray([3]))
    teacher = np.full((1, len(EMOTIONS)), 1.0 / len(EMOTIONS), dtype=np.float32)
    mixed = blend(labels, teacher, 0.25)
    assert mixed[0, 3] == pytest.approx(0.75 + 0.25 / 7)
    assert mixed[0, 0] == pytest.approx(0.25 / 7)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        blend(labels, teacher, 1.5)


def test_teacher_targets_are_distributions_and_cached(data: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.keras"
    build_model(TINY).save(teacher)
    faces = load_folder(data / "train")
    targets = teacher_targets([teacher, teacher], faces, 2.0, tmp_path)
    assert targets.shape == (len(faces), len(EMOTIONS))
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    assert (tmp_path / TEACHER_FILE).is_file()
    teacher.unlink()  # a second call must not need the teacher again
    np.testing.assert_array_equal(teacher_targets([teacher], faces, 2.0, tmp_path), targets)


def test_the_feeder_trains_on_the_given_targets(data: Path) -> None:
    faces = load_folder(data / "train")
    targets = np.full((len(faces), len(EMOTIONS)), 1.0 / len(EMOTIONS), dtype=np.float32)
    weights = np.ones(len(EMOTIONS), dtype=np.float32)
    feeder = BatchFeeder(faces, 8, AugmentConfig(), weights, seed=1, targets=targets)
    _, batch_targets, _ = feeder.batch(0, 0)
    np.testing.assert_allclose(batch_targets, 1.0 / len(EMOTIONS))
    with pytest.raises(ValueError, match="targets of shape"):
        BatchFeeder(faces, 8, AugmentConfig(), weights, seed=1, targets=targets[:3])


def test_cyclic_rates_restart_at_the_peak_and_end_each_cycle_low(tmp_path: Path) -> None:
    config = TrainConfig(
        data=tmp_path,
        out_dir=tmp_path,
        epochs=9,
        warmup_epochs=1,
        learning_rate=0.1,
        cycle_epochs=3,
    )
    schedule = LearningRate(config, steps_per_epoch=10)
    assert schedule.at(1, 0) == pytest.approx(0.1)
    for start in (3, 6):
        assert schedule.at(start, 0) == pytest.approx(0.1)
        assert schedule.at(start - 1, 9) < 0.01
    assert [e for e in range(9) if schedule.ends_cycle(e)] == [2, 5, 8]
    assert not LearningRate(replace(config, cycle_epochs=None), 10).ends_cycle(8)
    with pytest.raises(ValueError, match="cycle_epochs"):
        LearningRate(replace(config, cycle_epochs=1), 10)


def test_the_average_is_the_mean_of_the_snapshots_and_survives_a_save(tmp_path: Path) -> None:
    model = build_model(TINY)
    first = model.get_weights()
    average = WeightAverage()
    average.add(model, 0)
    model.set_weights([w + 1.0 for w in first])
    average.add(model, 1)
    average.add(model, 1)  # the same epoch again (a resumed run) does not count twice
    assert average.count == 2
    average.save(tmp_path / AVERAGE_FILE)
    loaded = WeightAverage.load(tmp_path / AVERAGE_FILE)
    assert loaded.epochs == [0, 1]
    loaded.apply_to(model)
    for got, start in zip(model.get_weights(), first, strict=True):
        np.testing.assert_allclose(got, start + 0.5, atol=1e-5)


def test_recalibration_measures_the_batchnorm_statistics_of_the_faces(data: Path) -> None:
    model = build_model(TINY)
    faces = load_folder(data / "train").images
    stem = model.get_layer("stem_bn")
    stem.moving_mean.assign(np.full(stem.moving_mean.shape, 50.0, dtype=np.float32))
    recalibrate_batchnorm(model, faces)
    features = keras.Model(model.input, model.get_layer("stem_conv").output)
    activations = np.asarray(features(to_model_batch(faces), training=False))
    expected = activations.reshape(-1, activations.shape[-1]).mean(axis=0)
    np.testing.assert_allclose(np.asarray(stem.moving_mean), expected, rtol=1e-3, atol=1e-4)
    assert stem.momentum == TINY.bn_momentum


@pytest.mark.slow
def test_a_distilled_cyclic_run_averages_its_cycle_ends(data: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.keras"
    build_model(TINY).save(teacher)
    config = TrainConfig(
        data=data,
        out_dir=tmp_path / "run",
        model=TINY,
        epochs=4,
        batch_size=16,
        max_steps_per_epoch=2,
        warmup_epochs=0.5,
        cycle_epochs=2,
        teachers=(teacher,),
    )
    assert train(config) == config.out_dir / BEST
    state = json.loads((config.out_dir / STATE).read_text())
    assert state["average"]["epochs"] == [1, 3]
    assert 0.0 <= state["average"]["val_accuracy"] <= 1.0
    assert (config.out_dir / TEACHER_FILE).is_file()
    assert json.loads((config.out_dir / "config.json").read_text())["teachers"] == [str(teacher)]
    resumed = tmp_path / "resumed"
    shutil.copytree(config.out_dir, resumed)
    train(replace(config, out_dir=resumed, epochs=6), resume=True)
    assert WeightAverage.load(resumed / AVERAGE_FILE).epochs == [1, 3, 5]
    assert json.loads((resumed / STATE).read_text())["average"]["epochs"] == [1, 3, 5]
