"""Classification metrics in plain numpy: confusion matrix, per-class and macro scores.

Zero divisions score 0: a class never predicted has precision 0, a class absent from
the labels has recall 0, and F1 is 0 wherever precision + recall is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from common.wire import EMOTIONS

Labels = npt.ArrayLike
Scores = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]


def confusion_matrix(y_true: Labels, y_pred: Labels, n_classes: int = len(EMOTIONS)) -> Counts:
    """(n_classes, n_classes) counts: true classes down the rows, predictions across."""
    true = _as_labels(y_true, n_classes, "y_true")
    pred = _as_labels(y_pred, n_classes, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(
            f"expected y_true and y_pred of equal length, got {len(true)} and {len(pred)}"
        )
    flat = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def _as_labels(values: Labels, n_classes: int, name: str) -> Counts:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"expected {name} as a 1-D array of labels, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"expected integer {name}, got {array.dtype}")
    labels = array.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"expected {name} in 0..{n_classes - 1}, got values {labels.min()}..{labels.max()}"
        )
    return labels


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """Accuracy, macro F1 and per-class precision, recall, F1 and support of one prediction run."""

    class_names: tuple[str, ...]
    confusion: Counts
    precision: Scores
    recall: Scores
    f1: Scores
    support: Counts
    accuracy: float
    macro_f1: float

    def __post_init__(self) -> None:
        n = len(self.class_names)
        if self.confusion.shape != (n, n):
            raise ValueError(f"expected a ({n}, {n}) confusion matrix, got {self.confusion.shape}")
        for name in ("precision", "recall", "f1", "support"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"expected {name} of shape ({n},), got {shape}")

    @classmethod
    def from_confusion(
        cls, confusion: Counts, class_names: tuple[str, ...] = EMOTIONS
    ) -> ClassificationReport:
        """Every score of a report, derived from its confusion matrix."""
        confusion = np.asarray(confusion, dtype=np.int64)
        correct = np.diag(confusion).astype(np.float64)
        support = confusion.sum(axis=1)
        predicted = confusion.sum(axis=0)
        precision = _safe_divide(correct, predicted)
        recall = _safe_divide(correct, support)
        f1 = _safe_divide(2.0 * precision * recall, precision + recall)
        total = int(confusion.sum())
        return cls(
            class_names=tuple(class_names),
            confusion=confusion,
            precision=precision,
            recall=recall,
            f1=f1,
            support=support.astype(np.int64),
            accuracy=float(correct.sum() / total) if total else 0.0,
            macro_f1=float(f1.mean()) if len(f1) else 0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values, ready for ``json.dumps``."""
        per_class = {
            name: {
                "precision": float(self.precision[i]),
                "recall": float(self.recall[i]),
                "f1": float(self.f1[i]),
                "support": int(self.support[i]),
            }
            for i, name in enumerate(self.class_names)
        }
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "faces": int(self.support.sum()),
            "per_class": per_class,
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
        }

    def to_markdown(self) -> str:
        """A per-class table with a macro-average row, then the accuracy."""
        lines = [
            "| class | precision | recall | F1 | support |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for i, name in enumerate(self.class_names):
            lines.append(
                f"| {name} | {self.precision[i]:.3f} | {self.recall[i]:.3f} "
                f"| {self.f1[i]:.3f} | {self.support[i]} |"
            )
        lines.append(
            f"| **macro average** | {self.precision.mean():.3f} | {self.recall.mean():.3f} "
            f"| **{self.macro_f1:.3f}** | {self.support.sum()} |"
        )
        lines.append("")
        lines.append(f"Accuracy: **{self.accuracy:.4f}** ({self._correct()}/{self.support.sum()})")
        return "\n".join(lines) + "\n"

    def _correct(self) -> int:
        return int(np.trace(self.confusion))


def classification_report(
    y_true: Labels, y_pred: Labels, class_names: tuple[str, ...] = EMOTIONS
) -> ClassificationReport:
    """Scores of ``y_pred`` against ``y_true``; labels index ``class_names``."""
    matrix = confusion_matrix(y_true, y_pred, n_classes=len(class_names))
    return ClassificationReport.from_confusion(matrix, class_names)


def _safe_divide(numerator: Scores, denominator: npt.NDArray[Any]) -> Scores:
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
