"""Train the emotion model: a bare compiled step per batch, a checkpoint every epoch, ``resume``.

Each step is one ``train_on_batch`` call, the fastest path Keras has on every backend;
batches are augmented on the host by a background thread while the previous step runs
(``training.batches.BatchFeeder``), so the model never waits for them. The learning rate
warms up linearly over ``warmup_epochs``, then follows a cosine to 1% of its peak at the
last epoch, set every step. The epoch count is fixed up front, so the cosine always
completes; a longer run is a new run started ``init_from`` the last one (a warm restart).
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
from training.batches import BatchFeeder, class_weights
from training.data import FaceDataset, load_dataset, stratified_split
from training.evaluate import predict_probabilities
from training.model import ModelConfig, build_model, export_float32
from training.plots import plot_curves

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

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("data", "out_dir", "init_from"):
            values[key] = None if values[key] is None else str(values[key])
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
    steps = _steps(len(train_set) // config.batch_size, config.max_steps_per_epoch)
    schedule = LearningRate(config, steps)
    for epoch in range(state["epoch"] + 1, config.epochs):
        started = time.monotonic()
        feeder = BatchFeeder(train_set, config.batch_size, config.augment, weights, config.seed)
        logs = _train_epoch(
            model, feeder.epoch(epoch, steps), schedule, epoch, steps, config.batch_size
        )
        logs["val_accuracy"] = accuracy(model, val_set)
        _end_epoch(model, config, out, state, epoch, logs, time.monotonic() - started)
    if not (out / BEST).exists():
        export_float32(model, config.model).save(out / BEST)
    plot_curves(state["history"], out / CURVES)
    return out / BEST


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
    """Linear warm-up, then a cosine to 1% of the peak at the end of the last epoch."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int) -> None:
        self.peak = config.learning_rate
        self.warmup = config.warmup_epochs
        self.epochs = config.epochs
        self.steps_per_epoch = max(1, steps_per_epoch)

    def at(self, epoch: int, step: int = 0) -> float:
        progress = epoch + step / self.steps_per_epoch
        if progress < self.warmup:
            return self.peak * (progress + 1.0 / self.steps_per_epoch) / self.warmup
        span = max(1e-9, self.epochs - self.warmup)
        done = min(1.0, (progress - self.warmup) / span)
        return self.peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * done)))


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
