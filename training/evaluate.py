"""Evaluate a saved emotion model on a FER2013 split: plain, and with test-time augmentation.

Three ways to score each face: ``plain`` (what a worker serves by default), ``flip_tta``
(the mean with its mirror, ``FERSTREAM_FLIP_TTA``) and ``ten_crop`` (the mean over the
four corner and the centre 44x44 crops, each resized back to 48x48, and their mirrors;
reported only, ten model calls a face). Writes into the output folder:

    metrics.json        the three reports (see ClassificationReport.to_dict), run details
    report.md           the same as tables
    confusion.png       row-normalised confusion matrix, plain
    confusion_tta.png   the same with flip TTA

By default the faces go through the path a worker serves them on: the model converted for
LiteRT (``worker.model_file``) behind ``worker.classifier.LiteRtEmotionClassifier``.
``runtime="keras"`` calls the Keras model itself instead (the two agree within 1e-4).
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


RUNTIMES = ("litert", "keras")
TTA_MODES = ("plain", "flip_tta", "ten_crop")
CROP_SIDE = 44


def ten_crops(faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(10N, 48, 48): per face, five 44x44 crops resized to 48x48 and their mirrors."""
    edge = FACE_SIZE - CROP_SIDE
    corners = ((0, 0), (0, edge), (edge, 0), (edge, edge), (edge // 2, edge // 2))
    out = np.empty((len(faces), 10, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    for index, face in enumerate(faces):
        for k, (y, x) in enumerate(corners):
            crop = face[y : y + CROP_SIDE, x : x + CROP_SIDE]
            resized = cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)
            out[index, 2 * k] = resized
            out[index, 2 * k + 1] = resized[:, ::-1]
    return out.reshape(-1, FACE_SIZE, FACE_SIZE)


def evaluate(
    model_path: Path,
    data: Path,
    split: str = "test",
    out_dir: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    runtime: str = "litert",
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Score ``model_path`` on ``split`` of ``data``, write the report files, return the metrics.

    ``out_dir`` defaults to ``evaluation/`` next to the model file. ``runtime`` is
    ``"litert"`` (the worker's path) or ``"keras"``.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"expected a runtime in {RUNTIMES}, got {runtime!r}")
    model_path, data = Path(model_path), Path(data)
    out = Path(out_dir) if out_dir is not None else model_path.parent / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(model_path)
    predict = _predictor(model, model_path, runtime, batch_size, cache_dir)
    dataset = load_dataset(data, split)
    log.info("evaluating %s on %d %s faces from %s", model_path, len(dataset), split, data)
    reports: dict[str, ClassificationReport] = {}
    seconds: dict[str, float] = {}
    for name in TTA_MODES:
        started = time.perf_counter()
        if name == "ten_crop":
            crops = ten_crops(dataset.images)
            probabilities = predict(crops, False).reshape(len(dataset), 10, -1).mean(axis=1)
        else:
            probabilities = predict(dataset.images, name == "flip_tta")
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
        "runtime": runtime,
        "plain": reports["plain"].to_dict(),
        "flip_tta": reports["flip_tta"].to_dict(),
        "ten_crop": reports["ten_crop"].to_dict(),
        "seconds": seconds,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "machine": platform.machine(),
    }
    _write_reports(out, metrics, reports)
    log.info("wrote %s, %s and the confusion images to %s", METRICS_FILE, REPORT_FILE, out)
    return metrics


def _predictor(
    model: keras.Model, model_path: Path, runtime: str, batch_size: int, cache_dir: Path | None
) -> Any:
    """``predict(faces, flip_tta)`` on the chosen runtime."""
    if runtime == "keras":
        return lambda faces, flip: predict_probabilities(model, faces, batch_size, flip)
    from worker.classifier import LiteRtEmotionClassifier

    served = LiteRtEmotionClassifier.from_model_file(model_path, cache_dir, threads=2)

    def predict(faces: npt.NDArray[np.uint8], flip: bool) -> Probabilities:
        served.flip_tta = flip
        return np.concatenate(
            [served.classify(faces[i : i + batch_size]) for i in range(0, len(faces), batch_size)]
        )

    return predict


def _write_reports(
    out: Path, metrics: dict[str, Any], reports: dict[str, ClassificationReport]
) -> None:
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    (out / REPORT_FILE).write_text(render_report(metrics, reports))
    title = f"{metrics['model_name']} on {metrics['split']}"
    plot_confusion(reports["plain"].confusion, EMOTIONS, title, out / CONFUSION_FILE)
    plot_confusion(
        reports["flip_tta"].confusion, EMOTIONS, f"{title}, flip TTA", out / CONFUSION_TTA_FILE
    )


def render_report(metrics: dict[str, Any], reports: dict[str, ClassificationReport]) -> str:
    """``report.md``: a summary of the three ways of scoring, then each per-class table."""
    plain, tta, ten = reports["plain"], reports["flip_tta"], reports["ten_crop"]
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
            f"| ten-crop TTA (reported only) | {ten.accuracy:.4f} | {ten.macro_f1:.4f} |",
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
            "## Ten-crop test-time augmentation",
            "",
            ten.to_markdown(),
            "",
        ]
    )


def _describe(metrics: dict[str, Any]) -> str:
    return (
        f"Split `{metrics['split']}` of `{metrics['data']}`: {metrics['faces']} faces, "
        f"through {RUNTIME_NAMES[metrics['runtime']]}."
    )


RUNTIME_NAMES = {
    "litert": "the worker's path (LiteRT, the model's TensorFlow Lite conversion)",
    "keras": "the Keras model itself",
}
