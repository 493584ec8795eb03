"""Train the emotion model: a bare compiled step per batch, a checkpoint every epoch, ``resume``.

Each step is one ``train_on_batch`` call, the fastest path Keras has on every backend;
batches are augmented on the host by a background thread while the previous step runs
(``training.batches.BatchFeeder``), so the model never waits for them. The learning rate
warms up linearly over ``warmup_epochs``, then follows a cosine to 1% of its peak at the
last epoch, set every step. The epoch count is fixed up front, so the cosine always
completes; a longer run is a new run started ``init_from`` the last one (a warm restart).
With ``cycle_epochs`` the cosine restarts every that many epochs instead, and the weights
at each cycle's end are averaged (``training.averaging``); the average, its BatchNorm
statistics measured again, replaces the best epoch when it validates better. With
``teachers``, each face trains on a blend of its label and the teachers' ten-crop
distribution (``training.teacher``).
After every epoch: inference-mode validation accuracy, a checkpoint with the optimizer's
state (``resume`` continues from it), the best model so far exported in float32, and a
progress line.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training.augment import AugmentConfig
from training.averaging import AVERAGE_FILE, WeightAverage, recalibrate_batchnorm
from training.batches import BatchFeeder, class_weights, one_hot
from training.data import FaceDataset, load_dataset, stratified_split
from training.evaluate import predict_probabilities
from training.model import ModelConfig, build_model, export_float32
from training.plots import plot_curves
from training.teacher import blend, teacher_targets

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
BEST = "model.keras"
CURVES = "curves.png"
PROGRESS_SECONDS = 30.0


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out_dir: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 60
    batch_size: int = 128
    optimizer: str = "sgd"  # "sgd" (Nesterov) or "adamw"
    learning_rate: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5
    val_fraction: float = 0.1
    seed: int = 1234
    mixed_precision: bool = False
    init_from: Path | None = None  # start from this model's weights (same architecture)
    train_faces: int | None = None  # a stratified subset of the training faces (searches)
    max_steps_per_epoch: int | None = None  # for smoke tests
    cycle_epochs: int | None = None  # restart the cosine this often and average cycle ends
    teachers: tuple[Path, ...] = ()  # distil from these models' ten-crop distributions
    distill_weight: float = 0.5  # the teachers' share of each face's target
    distill_temperature: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("data", "out_dir", "init_from"):
            values[key] = None if values[key] is None else str(values[key])
        values["teachers"] = [str(path) for path in self.teachers]
        return values


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Train, keep the best epoch by validation accuracy, and return the exported model's path."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    train_set, val_set = training_split(config)
    log.info("train %d faces, validation %d faces", len(train_set), len(val_set))
    state = _load_state(out) if resume else None
    model = _restore(out) if state else _compile(_initial_model(config), config)
    state = state or new_state(config)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    weights = class_weights(train_set.class_counts(), config.class_weight_power)
    targets = _targets(config, train_set, out)
    steps = _steps(len(train_set) // config.batch_size, config.max_steps_per_epoch)
    schedule = LearningRate(config, steps)
    average = WeightAverage.load(out / AVERAGE_FILE) if resume else WeightAverage()
    for epoch in range(state["epoch"] + 1, config.epochs):
        started = time.monotonic()
        feeder = BatchFeeder(
            train_set, config.batch_size, config.augment, weights, config.seed, targets
        )
        logs = _train_epoch(
            model, feeder.epoch(epoch, steps), schedule, epoch, steps, config.batch_size
        )
        logs["val_accuracy"] = accuracy(model, val_set)
        if schedule.ends_cycle(epoch):
            average.add(model, epoch)
            average.save(out / AVERAGE_FILE)
        _end_epoch(model, config, out, state, epoch, logs, time.monotonic() - started)
    if average.count > 1 and state.get("average", {}).get("epochs") != average.epochs:
        _finish_average(model, average, config, out, state, train_set, val_set)
    if not (out / BEST).exists():
        export_float32(model, config.model).save(out / BEST)
    plot_curves(state["history"], out / CURVES)
    return out / BEST


def _targets(config: TrainConfig, train_set: FaceDataset, out: Path) -> Any:
    """Each training face's target distribution: its one-hot label, or the distilled blend."""
    labels = one_hot(train_set.labels)
    if not config.teachers:
        return labels
    soft = teacher_targets(config.teachers, train_set, config.distill_temperature, out)
    return blend(labels, soft, config.distill_weight)


def _finish_average(
    model: keras.Model,
    average: WeightAverage,
    config: TrainConfig,
    out: Path,
    state: dict[str, Any],
    train_set: FaceDataset,
    val_set: FaceDataset,
) -> None:
    """Score the cycle-end average; it becomes the run's model when it validates better."""
    averaged = export_float32(model, config.model)
    average.apply_to(averaged)
    recalibrate_batchnorm(averaged, train_set.images, config.seed)
    val_accuracy = accuracy(averaged, val_set)
    kept = val_accuracy > state["best_val_accuracy"]
    state["average"] = {"epochs": average.epochs, "val_accuracy": val_accuracy, "kept": kept}
    log.info(
        "average of %d cycle ends: val_acc %.4f (best epoch %.4f): %s",
        average.count,
        val_accuracy,
        state["best_val_accuracy"],
        "kept" if kept else "not kept",
    )
    if kept:
        averaged.save(out / BEST)
    (out / STATE).write_text(json.dumps(state, indent=1))


def training_split(config: TrainConfig) -> tuple[FaceDataset, FaceDataset]:
    """The training faces (all, or a stratified ``train_faces`` of them) and the validation set."""
    train_set, val_set = stratified_split(
        load_dataset(config.data, "train"), config.val_fraction, config.seed
    )
    if config.train_faces and config.train_faces < len(train_set):
        fraction = 1.0 - config.train_faces / len(train_set)
        train_set, _ = stratified_split(train_set, fraction, config.seed + 1)
    return train_set, val_set


def new_state(config: TrainConfig) -> dict[str, Any]:
    return {
        "epoch": -1,
        "best_val_accuracy": -1.0,
        "best_epoch": -1,
        "history": [],
        "elapsed": 0.0,
    }


class LearningRate:
    """Linear warm-up, then a cosine to 1% of the peak at the end of the last epoch.

    With ``cycle_epochs`` the cosine ends at 1% every that many epochs and starts again at
    the peak (the warm-up is part of the first cycle).
    """

    def __init__(self, config: TrainConfig, steps_per_epoch: int) -> None:
        self.peak = config.learning_rate
        self.warmup = config.warmup_epochs
        self.epochs = config.epochs
        self.cycle = config.cycle_epochs
        if self.cycle is not None and not self.warmup < self.cycle <= self.epochs:
            raise ValueError(
                f"expected cycle_epochs between the warm-up ({self.warmup}) and the epochs "
                f"({self.epochs}), got {self.cycle}"
            )
        self.steps_per_epoch = max(1, steps_per_epoch)

    def at(self, epoch: int, step: int = 0) -> float:
        progress = epoch + step / self.steps_per_epoch
        if progress < self.warmup:
            return self.peak * (progress + 1.0 / self.steps_per_epoch) / self.warmup
        start, end = self.warmup, float(self.epochs)
        if self.cycle is not None:
            first = progress < self.cycle
            start = self.warmup if first else (epoch // self.cycle) * self.cycle
            end = float(self.cycle if first else start + self.cycle)
        done = min(1.0, (progress - start) / max(1e-9, end - start))
        return self.peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * done)))

    def ends_cycle(self, epoch: int) -> bool:
        """Whether ``epoch`` is the last of a cycle (never without ``cycle_epochs``)."""
        return self.cycle is not None and (epoch + 1) % self.cycle == 0


def _train_epoch(
    model: keras.Model,
    batches: Any,
    schedule: LearningRate,
    epoch: int,
    steps: int,
    batch_size: int,
) -> dict[str, float]:
    totals: dict[str, float] = {}
    logs: dict[str, float] = {}
    last_report = started = time.monotonic()
    for step, (images, targets, weights) in enumerate(batches):
        model.optimizer.learning_rate.assign(schedule.at(epoch, step))
        result = model.train_on_batch(images, targets, sample_weight=weights, return_dict=True)
        for key, value in result.items():  # each call reports its own batch: average them
            totals[key] = totals.get(key, 0.0) + float(value)
        logs = {key: total / (step + 1) for key, total in totals.items()}
        now = time.monotonic()
        if now - last_report >= PROGRESS_SECONDS:
            last_report = now
            rate = (step + 1) * len(images) / (now - started)
            log.info(
                "epoch %d step %d/%d loss %.4f acc %.4f, %.0f faces/s",
                epoch + 1,
                step + 1,
                steps,
                logs.get("loss", math.nan),
                logs.get("accuracy", math.nan),
                rate,
            )
    logs["lr"] = schedule.at(epoch, steps - 1)
    logs["faces_per_second"] = steps * batch_size / (time.monotonic() - started)
    return logs


def accuracy(model: keras.Model, dataset: FaceDataset) -> float:
    """Inference-mode accuracy (BatchNorm on its moving statistics, no dropout)."""
    probabilities = predict_probabilities(model, dataset.images, batch_size=512)
    return float(np.mean(probabilities.argmax(axis=1) == dataset.labels))


def _end_epoch(
    model: keras.Model,
    config: TrainConfig,
    out: Path,
    state: dict[str, Any],
    epoch: int,
    logs: dict[str, float],
    seconds: float,
) -> None:
    state["elapsed"] += seconds
    state["epoch"] = epoch
    state["history"].append({"epoch": epoch, "seconds": seconds, **logs})
    if logs["val_accuracy"] > state["best_val_accuracy"]:
        state["best_val_accuracy"] = logs["val_accuracy"]
        state["best_epoch"] = epoch
        export_float32(model, config.model).save(out / BEST)
    model.save(out / CHECKPOINT)
    (out / STATE).write_text(json.dumps(state, indent=1))
    plot_curves(state["history"], out / CURVES)
    log.info(
        "epoch %d/%d lr %.4g loss %.4f acc %.4f val_acc %.4f best %.4f (epoch %d) "
        "%.0fs, %.0f faces/s, %.1f min in all",
        epoch + 1,
        config.epochs,
        logs["lr"],
        logs.get("loss", math.nan),
        logs.get("accuracy", math.nan),
        logs["val_accuracy"],
        state["best_val_accuracy"],
        state["best_epoch"] + 1,
        seconds,
        logs["faces_per_second"],
        state["elapsed"] / 60.0,
    )


def _steps(available: int, cap: int | None) -> int:
    steps = min(available, cap) if cap else available
    if steps < 1:
        raise ValueError("expected at least one full batch of training faces")
    return steps


def _compile(model: keras.Model, config: TrainConfig) -> keras.Model:
    optimizer: keras.optimizers.Optimizer
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            config.learning_rate, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
        )
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"expected optimizer 'sgd' or 'adamw', got {config.optimizer!r}")
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def _initial_model(config: TrainConfig) -> keras.Model:
    model = build_model(config.model)
    if config.init_from is not None:
        source = keras.models.load_model(config.init_from, compile=False)
        try:
            model.set_weights(source.get_weights())
        except ValueError as exc:
            raise ValueError(
                f"expected {config.init_from} to match {model.name}, got {source.name}: {exc}"
            ) from exc
        log.info("initialised from %s", config.init_from)
    return model


def _restore(out: Path) -> keras.Model:
    log.info("resuming from %s", out / CHECKPOINT)
    model: keras.Model = keras.models.load_model(out / CHECKPOINT)
    return model


def _load_state(out: Path) -> dict[str, Any] | None:
    path = out / STATE
    if not (path.exists() and (out / CHECKPOINT).exists()):
        log.warning("no checkpoint in %s: starting afresh", out)
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state
