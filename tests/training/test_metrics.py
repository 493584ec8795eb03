"""Confusion matrices and classification reports on hand-made predictions."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from common.wire import EMOTIONS
from training.metrics import ClassificationReport, classification_report, confusion_matrix

ABC = ("a", "b", "c")


@pytest.mark.parametrize(
    ("y_true", "y_pred", "confusion"),
    [
        ([0, 1, 2], [0, 1, 2], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        ([0, 0, 1, 2], [1, 0, 1, 0], [[1, 1, 0], [0, 1, 0], [1, 0, 0]]),
        ([], [], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]),
    ],
)
def test_confusion_counts_true_rows_against_predicted_columns(
    y_true: list[int], y_pred: list[int], confusion: list[list[int]]
) -> None:
    matrix = confusion_matrix(np.array(y_true, dtype=np.int64), y_pred, n_classes=3)
    assert matrix.dtype == np.int64
    assert matrix.tolist() == confusion


def test_confusion_defaults_to_the_seven_emotions() -> None:
    assert confusion_matrix([6], [0]).shape == (len(EMOTIONS), len(EMOTIONS))


# Each row: labels, predictions, then accuracy, macro F1 and per-class precision, recall, F1.
REPORTS = [
    pytest.param(
        [0, 1, 2, 2], [0, 1, 2, 2], 1.0, 1.0, [1, 1, 1], [1, 1, 1], [1, 1, 1], id="perfect"
    ),
    pytest.param(
        # a: 2 of 3 found, 1 false alarm; b: 1 of 2 found, 1 false alarm; c: never predicted
        [0, 0, 0, 1, 1, 2],
        [0, 0, 1, 1, 0, 0],
        3 / 6,
        (4 / 7 + 1 / 2 + 0) / 3,
        [2 / 4, 1 / 2, 0.0],
        [2 / 3, 1 / 2, 0.0],
        [4 / 7, 1 / 2, 0.0],
        id="one-class-never-predicted",
    ),
    pytest.param(
        # c is absent from the labels and predicted once: precision 0, recall 0, F1 0
        [0, 1, 1],
        [0, 1, 2],
        2 / 3,
        (1 + 2 / 3 + 0) / 3,
        [1.0, 1.0, 0.0],
        [1.0, 1 / 2, 0.0],
        [1.0, 2 / 3, 0.0],
        id="absent-class",
    ),
    pytest.param([0, 1, 2], [1, 2, 0], 0.0, 0.0, [0, 0, 0], [0, 0, 0], [0, 0, 0], id="all-wrong"),
]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "accuracy", "macro_f1", "precision", "recall", "f1"), REPORTS
)
def test_report_scores(
    y_true: list[int],
    y_pred: list[int],
    accuracy: float,
    macro_f1: float,
    precision: list[float],
    recall: list[float],
    f1: list[float],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero divisions must not even warn
        report = classification_report(y_true, y_pred, class_names=ABC)
    assert report.accuracy == pytest.approx(accuracy)
    assert report.macro_f1 == pytest.approx(macro_f1)
    np.testing.assert_allclose(report.precision, precision)
    np.testing.assert_allclose(report.recall, recall)
    np.testing.assert_allclose(report.f1, f1)
    assert report.support.tolist() == np.bincount(y_true, minlength=3).tolist()


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1], [0], "equal length, got 2 and 1"),
        ([0, 3], [0, 1], r"y_true in 0\.\.2, got values 0\.\.3"),
        ([0, 1], [-1, 1], r"y_pred in 0\.\.2"),
        ([[0, 1]], [[0, 1]], "1-D array"),
        ([0.0, 1.0], [0, 1], "integer y_true"),
    ],
)
def test_bad_labels_are_refused(y_true: list[int], y_pred: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_report(y_true, y_pred, class_names=ABC)


def test_report_is_json_ready() -> None:
    report = classification_report([0, 0, 1, 2], [0, 1, 1, 0], class_names=ABC)
    loaded = json.loads(json.dumps(report.to_dict()))
    assert loaded["accuracy"] == pytest.approx(0.5)
    assert loaded["per_class"]["b"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert loaded["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert loaded["class_names"] == list(ABC)
    assert loaded["faces"] == 4


def test_report_markdown_is_a_table_with_every_class() -> None:
    report = classification_report([0, 0, 1, 2], [0, 1, 1, 0], class_names=ABC)
    text = report.to_markdown()
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3 + 1  # header, rule, classes, macro average
    assert rows[3].startswith("| b | 0.500 | 1.000 | 0.667 | 1 |")
    assert "Accuracy: **0.5000** (2/4)" in text


def test_report_refuses_inconsistent_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected a \(3, 3\) confusion matrix"):
        ClassificationReport.from_confusion(np.eye(2, dtype=np.int64), ABC)
