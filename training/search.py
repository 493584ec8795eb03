"""Choose the backbone's input size, width and strides by accuracy per CPU-hour.

A benchmark program, not a test: ``python -m training.search --data DATA --out DIR``.
Every candidate trains from scratch on the same stratified subset of the training faces
for the same wall-clock budget (its epoch count is fitted to its measured speed), then is
scored in inference mode on the full validation split. The winner is the candidate with
the best validation accuracy for the time: the one that learns most per CPU-second.
Writes ``search.json``, ``search.md`` and ``search.png`` (validation accuracy against
minutes, one curve per candidate) into DIR, with each candidate's run folder beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras

from training.backend_speed import train_step_speed
from training.model import ModelConfig
from training.plots import plot_search
from training.train import STATE, TrainConfig, train

log = logging.getLogger(__name__)

CANDIDATES: tuple[ModelConfig, ...] = (
    ModelConfig(input_size=48, alpha=1.0, downsample=(2, 2, 2, 2, 2)),
    ModelConfig(input_size=48, alpha=1.0, downsample=(2, 2, 2, 2, 1)),
    ModelConfig(input_size=64, alpha=1.0, downsample=(2, 2, 2, 2, 2)),
    ModelConfig(input_size=48, alpha=1.0, downsample=(2, 2, 2, 1, 1)),
)
SPEED_SECONDS = 5.0


@dataclass(frozen=True)
class Outcome:
    name: str
    model: dict[str, Any]
    faces_per_second: float
    epochs: int
    minutes: float
    best_val_accuracy: float
    curve: list[tuple[float, float]]  # (minutes, validation accuracy) per epoch


def run_candidate(base: TrainConfig, model_config: ModelConfig, minutes: float) -> Outcome:
    speed, _ = train_step_speed(model_config, base.batch_size, SPEED_SECONDS)
    assert base.train_faces is not None
    epochs = max(2, round(minutes * 60.0 * speed / base.train_faces))
    out = base.out_dir / model_config.name
    log.info("%s: %.0f faces/s, %d epochs in %.1f min", model_config.name, speed, epochs, minutes)
    train(replace(base, out_dir=out, model=model_config, epochs=epochs), resume=True)
    state = json.loads((out / STATE).read_text())
    elapsed, curve = 0.0, []
    for row in state["history"]:
        elapsed += row["seconds"] / 60.0
        curve.append((elapsed, row["val_accuracy"]))
    return Outcome(
        model_config.name,
        model_config.to_dict(),
        speed,
        epochs,
        elapsed,
        state["best_val_accuracy"],
        curve,
    )


def write_report(outcomes: list[Outcome], base: TrainConfig, out: Path) -> Outcome:
    winner = max(outcomes, key=lambda o: o.best_val_accuracy)
    (out / "search.json").write_text(
        json.dumps(
            {
                "train_faces": base.train_faces,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "backend": keras.backend.backend(),
                "winner": winner.name,
                "candidates": [o.__dict__ for o in outcomes],
            },
            indent=1,
        )
    )
    lines = [
        f"Each candidate: {base.train_faces} training faces, the same minutes, "
        f"scored on {base.val_fraction:.0%} of train/ held out.",
        "",
        "| backbone | faces/s (train step) | epochs | minutes | best validation accuracy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for o in outcomes:
        mark = " (chosen)" if o is winner else ""
        lines.append(
            f"| `{o.name}`{mark} | {o.faces_per_second:.0f} | {o.epochs} | {o.minutes:.1f} | "
            f"{o.best_val_accuracy:.4f} |"
        )
    (out / "search.md").write_text("\n".join(lines) + "\n")
    plot_search({o.name: o.curve for o in outcomes}, out / "search.png")
    return winner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-faces", type=int, default=8000)
    parser.add_argument("--minutes", type=float, default=4.0, help="per candidate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    base = TrainConfig(
        data=args.data,
        out_dir=args.out,
        train_faces=args.train_faces,
        learning_rate=0.05,
        warmup_epochs=1.0,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes = [run_candidate(base, candidate, args.minutes) for candidate in CANDIDATES]
    winner = write_report(outcomes, base, args.out)
    print((args.out / "search.md").read_text())
    print(f"chosen: {winner.name}")


if __name__ == "__main__":
    main()
