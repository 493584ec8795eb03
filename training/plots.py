"""Training curves and confusion-matrix images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    if not history:
        return
    epochs = [row["epoch"] + 1 for row in history]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for key, axis in (("loss", loss_axis), ("accuracy", acc_axis)):
        axis.plot(epochs, [row.get(key) for row in history], label=f"train {key}")
        axis.plot(epochs, [row.get(f"val_{key}") for row in history], label=f"validation {key}")
        axis.set_xlabel("epoch")
        axis.set_title(key)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_confusion(
    matrix: npt.NDArray[np.int64], class_names: tuple[str, ...], title: str, path: Path
) -> None:
    """A row-normalised confusion matrix with counts, true classes down, predictions across."""
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, np.maximum(rows, 1))
    figure, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            colour = "white" if share[i, j] > 0.5 else "black"
            axis.text(
                j,
                i,
                f"{share[i, j]:.2f}\n{matrix[i, j]}",
                ha="center",
                va="center",
                fontsize=7,
                color=colour,
            )
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_search(curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    """Validation accuracy against training minutes, one line per candidate backbone."""
    figure, axis = plt.subplots(figsize=(8, 5))
    for name, points in curves.items():
        if points:
            minutes, accuracy = zip(*points, strict=True)
            axis.plot(minutes, accuracy, marker="o", markersize=3, label=name)
    axis.set_xlabel("training minutes (2 CPU cores)")
    axis.set_ylabel("validation accuracy (inference mode)")
    axis.set_title("Backbone search: accuracy for the CPU time")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
