"""Train the emotion model: checkpoints every epoch, ``resume``, an optional time budget.

The learning rate warms up linearly, then follows a cosine to 1% of its peak. With a
time budget the number of epochs is fixed after the second epoch from its duration,
so the cosine always completes inside the budget.
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
from training.batches import AugmentedBatches, class_weights, one_hot
from training.data import load_dataset, stratified_split
from training.model import ModelConfig, build_model, export_float32
from training.plots import plot_curves

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
BEST = "model.keras"


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out_dir: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 60
    time_budget: float | None = None  # seconds for the whole run; caps the epochs
    batch_size: int = 128
    optimizer: str = "sgd"  # "sgd" (Nesterov) or "adamw"
    learning_rate: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: int = 3
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5
    val_fraction: float = 0.1
    seed: int = 1234
    mixed_precision: bool = False
    workers: int = 2
    init_from: Path | None = None  # start from this model's weights (same architecture)
    max_steps_per_epoch: int | None = None  # for smoke tests
    verbose: int = 1

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
    train_set, val_set = stratified_split(
        load_dataset(config.data, "train"), config.val_fraction, config.seed
    )
    log.info("train %d faces, validation %d faces", len(train_set), len(val_set))
    state = _load_state(out) if resume else None
    model = _restore(out) if state else _compile(_initial_model(config), config)
    first_epoch = state["epoch"] + 1 if state else 0
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    batches = AugmentedBatches(
        train_set,
        config.batch_size,
        config.augment,
        class_weights(train_set.class_counts(), config.class_weight_power),
        config.seed,
        first_epoch=first_epoch,
        workers=config.workers,
    )
    schedule = EpochSchedule(config, out, state)
    model.fit(
        batches,
        validation_data=(
            val_set.images[..., np.newaxis].astype("float32"),
            one_hot(val_set.labels),
        ),
        validation_batch_size=256,
        epochs=config.epochs,
        initial_epoch=first_epoch,
        steps_per_epoch=_steps(len(batches), config.max_steps_per_epoch),
        callbacks=[schedule],
        verbose=config.verbose,
    )
    if not (out / BEST).exists():
        export_float32(model, config.model).save(out / BEST)
    plot_curves(schedule.state["history"], out / "curves.png")
    return out / BEST


def _steps(available: int, cap: int | None) -> int:
    return min(available, cap) if cap else available


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


class EpochSchedule(keras.callbacks.Callback):  # type: ignore[misc]
    """Sets the learning rate per epoch, checkpoints, keeps the best model, honours the budget."""

    def __init__(self, config: TrainConfig, out: Path, state: dict[str, Any] | None) -> None:
        super().__init__()
        self.config = config
        self.out = out
        self.state: dict[str, Any] = state or {
            "epoch": -1,
            "total_epochs": config.epochs,
            "best_val_accuracy": -1.0,
            "best_epoch": -1,
            "history": [],
            "elapsed": 0.0,
        }
        self._started = time.monotonic() - self.state["elapsed"]
        self._epoch_started = 0.0

    def learning_rate(self, epoch: int) -> float:
        peak, warmup = self.config.learning_rate, self.config.warmup_epochs
        if epoch < warmup:
            return peak * (epoch + 1) / warmup
        span = max(1, self.state["total_epochs"] - warmup)
        progress = min(1.0, (epoch - warmup) / span)
        return peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.monotonic()
        self.model.optimizer.learning_rate = self.learning_rate(epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        now = time.monotonic()
        self.state["elapsed"] = now - self._started
        self.state["epoch"] = epoch
        row = {
            "epoch": epoch,
            "lr": self.learning_rate(epoch),
            "seconds": now - self._epoch_started,
        }
        self.state["history"].append({**row, **logs})
        if epoch == 1 and self.config.time_budget:
            self._fit_budget(now - self._epoch_started)
        if logs.get("val_accuracy", -1.0) > self.state["best_val_accuracy"]:
            self.state["best_val_accuracy"] = logs["val_accuracy"]
            self.state["best_epoch"] = epoch
            export_float32(self.model, self.config.model).save(self.out / BEST)
        self.model.save(self.out / CHECKPOINT)
        (self.out / STATE).write_text(json.dumps(self.state, indent=1))
        log.info(
            "epoch %d/%d lr %.4g loss %.4f acc %.4f val_acc %.4f best %.4f (epoch %d) %.0fs",
            epoch + 1,
            self.state["total_epochs"],
            row["lr"],
            logs.get("loss", math.nan),
            logs.get("accuracy", math.nan),
            logs.get("val_accuracy", math.nan),
            self.state["best_val_accuracy"],
            self.state["best_epoch"] + 1,
            self.state["elapsed"],
        )
        if epoch + 1 >= self.state["total_epochs"]:
            self.model.stop_training = True

    def _fit_budget(self, epoch_seconds: float) -> None:
        assert self.config.time_budget is not None
        remaining = self.config.time_budget - self.state["elapsed"]
        fitting = 2 + int(remaining / max(epoch_seconds, 1e-3))
        self.state["total_epochs"] = max(
            self.config.warmup_epochs + 1, min(self.config.epochs, fitting)
        )
        log.info(
            "time budget: %.1fs per epoch, %d epochs in all",
            epoch_seconds,
            self.state["total_epochs"],
        )
