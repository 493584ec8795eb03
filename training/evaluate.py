"""Evaluate a saved emotion model on a FER2013 split, plain and with flip test-time augmentation.

Writes into the output folder:

    metrics.json        both reports (see ClassificationReport.to_dict), run details
    report.md           the same as tables
    confusion.png       row-normalised confusion matrix, plain
    confusion_tta.png   the same with flip TTA

``blur_sigma`` is a diagnostic: it Gaussian-blurs every face before the model sees it.
The project's FER2013 ``train/`` images are blurred (sigma about 3 px at 48x48) while
``test/`` is sharp, so scoring blurred test faces measures that domain gap.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import numpy.typing as npt

from common.errors import ModelError
from common.preprocessing import FACE_SIZE, to_model_batch
from common.wire import EMOTIONS
from training.data import load_dataset
from training.metrics import ClassificationReport, classification_report
from training.plots import plot_confusion

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 256
PROGRESS_EVERY = 1000  # faces between progress lines
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
CONFUSION_FILE = "confusion.png"
CONFUSION_TTA_FILE = "confusion_tta.png"

Probabilities = npt.NDArray[np.float32]


def load_model(path: Path) -> keras.Model:
    """A saved ``.keras`` emotion model, checked to map (N, 48, 48, 1) faces to (N, 7)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"expected a .keras model file, got missing path {path}")
    try:
        import common.layers  # noqa: F401 - registers the model's custom layers

        model: keras.Model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # keras raises many types for a bad file
        raise ModelError(f"cannot load model {path}: {exc}") from exc
    expected_in, expected_out = (None, FACE_SIZE, FACE_SIZE, 1), (None, len(EMOTIONS))
    if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != expected_out:
        raise ModelError(
            f"expected a model {expected_in} -> {expected_out}, "
            f"got {model.input_shape} -> {model.output_shape}"
        )
    return model


def predict_probabilities(
    model: keras.Model,
    faces: npt.NDArray[np.uint8],
    batch_size: int = DEFAULT_BATCH_SIZE,
    flip_tta: bool = False,
) -> Probabilities:
    """(N, 7) probabilities for (N, 48, 48) uint8 faces; ``flip_tta`` averages in the mirror."""
    batch = to_model_batch(faces)
    out = np.empty((len(batch), len(EMOTIONS)), dtype=np.float32)
    for start in range(0, len(batch), batch_size):
        chunk = batch[start : start + batch_size]
        probabilities = _call(model, chunk)
        if flip_tta:
            probabilities = (probabilities + _call(model, chunk[:, :, ::-1, :])) / 2.0
        out[start : start + len(chunk)] = probabilities
        done = start + len(chunk)
        if done == len(batch) or done // PROGRESS_EVERY > start // PROGRESS_EVERY:
            log.info("predicted %d/%d faces", done, len(batch))
    return out


def _call(model: keras.Model, batch: npt.NDArray[np.float32]) -> Probabilities:
    # A direct call: model.predict adds ~100 ms of set-up per call and a progress bar.
    result = model(np.ascontiguousarray(batch), training=False)
    return np.asarray(keras.ops.convert_to_numpy(result), dtype=np.float32)


def evaluate(
    model_path: Path,
    data: Path,
    split: str = "test",
    out_dir: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    blur_sigma: float = 0.0,
) -> dict[str, Any]:
    """Score ``model_path`` on ``split`` of ``data``, write the report files, return the metrics.

    ``out_dir`` defaults to ``evaluation/`` next to the model file; ``blur_sigma`` > 0
    blurs the faces first (see the module docstring).
    """
    model_path, data = Path(model_path), Path(data)
    out = Path(out_dir) if out_dir is not None else model_path.parent / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(model_path)
    dataset = load_dataset(data, split)
    faces = blur(dataset.images, blur_sigma) if blur_sigma > 0 else dataset.images
    log.info("evaluating %s on %d %s faces from %s", model_path, len(dataset), split, data)
    reports: dict[str, ClassificationReport] = {}
    seconds: dict[str, float] = {}
    for name, flip in (("plain", False), ("flip_tta", True)):
        started = time.perf_counter()
        probabilities = predict_probabilities(model, faces, batch_size, flip_tta=flip)
        seconds[name] = time.perf_counter() - started
        reports[name] = classification_report(dataset.labels, probabilities.argmax(axis=1))
        log.info(
            "%s: accuracy %.4f, macro F1 %.4f (%.1fs)",
            name,
            reports[name].accuracy,
            reports[name].macro_f1,
            seconds[name],
        )
    metrics = {
        "model": str(model_path),
        "model_name": model.name,
        "data": str(data),
        "split": split,
        "faces": len(dataset),
        "blur_sigma": blur_sigma,
        "plain": reports["plain"].to_dict(),
        "flip_tta": reports["flip_tta"].to_dict(),
        "seconds": seconds,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "machine": platform.machine(),
    }
    _write_reports(out, metrics, reports)
    log.info("wrote %s, %s and the confusion images to %s", METRICS_FILE, REPORT_FILE, out)
    return metrics


def blur(faces: npt.NDArray[np.uint8], sigma: float) -> npt.NDArray[np.uint8]:
    """Every face Gaussian-blurred with ``sigma`` pixels, as OpenCV computes it."""
    return np.stack([cv2.GaussianBlur(face, (0, 0), sigma) for face in faces])


def _write_reports(
    out: Path, metrics: dict[str, Any], reports: dict[str, ClassificationReport]
) -> None:
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    (out / REPORT_FILE).write_text(render_report(metrics, reports))
    title = f"{metrics['model_name']} on {metrics['split']}"
    if metrics["blur_sigma"]:
        title += f", blurred {metrics['blur_sigma']:g} px"
    plot_confusion(reports["plain"].confusion, EMOTIONS, title, out / CONFUSION_FILE)
    plot_confusion(
        reports["flip_tta"].confusion, EMOTIONS, f"{title}, flip TTA", out / CONFUSION_TTA_FILE
    )


def render_report(metrics: dict[str, Any], reports: dict[str, ClassificationReport]) -> str:
    """``report.md``: a summary of both runs, then each per-class table."""
    plain, tta = reports["plain"], reports["flip_tta"]
    return "\n".join(
        [
            f"# Evaluation of `{metrics['model']}`",
            "",
            _describe(metrics),
            "",
            "| | accuracy | macro F1 |",
            "| --- | ---: | ---: |",
            f"| plain | {plain.accuracy:.4f} | {plain.macro_f1:.4f} |",
            f"| flip TTA | {tta.accuracy:.4f} | {tta.macro_f1:.4f} |",
            "",
            "## Plain",
            "",
            plain.to_markdown(),
            f"![confusion matrix]({CONFUSION_FILE})",
            "",
            "## Flip test-time augmentation",
            "",
            tta.to_markdown(),
            f"![confusion matrix with flip TTA]({CONFUSION_TTA_FILE})",
            "",
        ]
    )


def _describe(metrics: dict[str, Any]) -> str:
    text = f"Split `{metrics['split']}` of `{metrics['data']}`: {metrics['faces']} faces"
    if metrics["blur_sigma"]:
        text += f", Gaussian-blurred with sigma {metrics['blur_sigma']:g} px (a diagnostic)"
    return text + "."
