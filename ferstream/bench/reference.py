"""The benchmark's in-process references, each process fresh and limited to one thread.

- **notebook**: the source notebook's loop. Haar ``detectMultiScale(gray, 1.1, 4)`` on
  the full frame, then per face a 224x224 colour resize and one Keras ``model.predict``
  call on a MobileNetV2 (alpha 1.0, 224x224x3, 7 classes, ``weights=None``: its accuracy
  is irrelevant, its cost is the point). Its frames are decoded before the clock starts,
  as a webcam hands over raw pixels, which only flatters it.
- **fer**: the popular ``fer`` package, ``FER(mtcnn=False).detect_emotions`` (Haar 1.1/5,
  min face 50 px, on the full frame, then its small CNN, by default as a TFLite model) on
  colour frames decoded before the clock, as for the notebook. It is optional (its declared
  dependencies pull in torch and a clashing OpenCV; ``./dev bench`` installs it without
  them), so the bench asks ``fer_available`` first and skips it when it cannot load.
- **floor**: the compute floor. The worker's own ``FramePipeline`` (the project's settings,
  and model) on encoded ``Frame`` messages: msgpack + JPEG decode, detect, crop, classify,
  with no queue. One process per core; processes start together and share the frames.

Processes are ``multiprocessing`` spawns (never forks of a process with TensorFlow).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

from common.errors import FerStreamError
from common.settings import Settings
from ferstream.bench.results import ReferenceRun
from ferstream.bench.scenes import LabelledFrame, matched_faces

NOTEBOOK = "notebook"
FLOOR = "floor"
FER_PACKAGE = "fer"
FER_KERAS = "fer-keras"  # the same, through its Keras model (what fer <= 22 always ran)
REFERENCES = (NOTEBOOK, FLOOR, FER_PACKAGE, FER_KERAS)
NOTEBOOK_INPUT = 224
NOTEBOOK_SCALE_FACTOR = 1.1
NOTEBOOK_MIN_NEIGHBORS = 4
WARMUP_FRAMES = 2
LOAD_TIMEOUT_SECONDS = 600.0  # TensorFlow and a model, on a busy two-core machine
RESULT_GRACE_SECONDS = 120.0

Box = tuple[int, int, int, int]
# what one process runs on the clock (some inputs in, their boxes out), its detection
# alone (for recall), its inputs, and how many inputs it takes at a time
Reference = tuple[
    Callable[[list[Any]], list[list[Box]]], Callable[[Any], list[Box]], list[Any], int
]


def one_at_a_time(run: Callable[[Any], list[Box]]) -> Callable[[list[Any]], list[list[Box]]]:
    return lambda inputs: [run(item) for item in inputs]


@dataclass(frozen=True)
class ReferenceResult:
    """What ``processes`` processes of one reference did in ``seconds`` each."""

    name: str
    processes: int
    frames: int
    faces: int
    frames_per_s: float
    cpu_fraction: float  # CPU seconds per wall second, per process (1.0: a full core)
    true_faces: int
    matched: int

    @property
    def faces_per_s(self) -> float:
        return self.frames_per_s * self.faces / max(1, self.frames)

    @property
    def recall(self) -> float | None:
        return self.matched / self.true_faces if self.true_faces else None

    def reported(self) -> ReferenceRun:
        """As the report shows it: rates rounded."""
        return ReferenceRun(
            name=self.name,
            processes=self.processes,
            frames=self.frames,
            faces=self.faces,
            frames_per_s=round(self.frames_per_s, 2),
            faces_per_s=round(self.faces_per_s, 2),
            cpu_fraction=round(self.cpu_fraction, 2),
            face_recall=None if self.recall is None else round(self.recall, 3),
        )


@dataclass(frozen=True)
class ChildRun:
    """What one reference process reports back."""

    frames: int
    faces: int
    seconds: float
    cpu: float
    boxes: dict[int, list[Box]]  # by frame position: what it found there


def run_reference(
    name: str,
    frames: list[LabelledFrame],
    settings: Settings,
    processes: int = 1,
    seconds: float = 15.0,
    log_dir: Path | None = None,
) -> ReferenceResult:
    """Run one reference in ``processes`` fresh processes for ``seconds`` after they load.

    Each process writes its output (TensorFlow's start-up chatter) to ``log_dir``
    (default: a temporary folder), named in the error if one fails.
    """
    if name not in REFERENCES:
        raise ValueError(f"reference: expected one of {REFERENCES}, got {name!r}")
    with tempfile.TemporaryDirectory(prefix="ferstream-reference-") as scratch:
        logs = Path(log_dir or scratch)
        logs.mkdir(parents=True, exist_ok=True)
        parts = _run_children(name, frames, settings, processes, seconds, logs)
    return _combine(name, processes, parts, frames)


def fer_available() -> str | None:
    """None when the ``fer`` package's ``FER`` loads here, else why not.

    Tried in a fresh interpreter: importing it loads TensorFlow, which the bench's own
    process should not carry through its load runs, and a missing dependency of its own
    (pandas, ``pkg_resources``, ...) shows only on import.
    """
    if importlib.util.find_spec("fer") is None:
        return "the `fer` package is not installed"
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from fer.fer import FER"],
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT_SECONDS,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`from fer.fer import FER` took over {LOAD_TIMEOUT_SECONDS:.0f} s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return f"`from fer.fer import FER` failed: {last}"
    return None


def _run_children(
    name: str,
    frames: list[LabelledFrame],
    settings: Settings,
    processes: int,
    seconds: float,
    logs: Path,
) -> list[ChildRun]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    outputs: multiprocessing.Queue[ChildRun] = context.Queue()
    children = [
        context.Process(
            target=_child,
            args=(name, settings, frames, index, processes, seconds, barrier, outputs),
            kwargs={"log_path": logs / f"{name}-{processes}-{index}.log"},
            name=f"bench-{name}-{index}",
            daemon=True,
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=LOAD_TIMEOUT_SECONDS)
        return [outputs.get(timeout=seconds + RESULT_GRACE_SECONDS) for _ in children]
    except (threading.BrokenBarrierError, Empty) as exc:
        tail = "".join(_tail(path) for path in sorted(logs.glob(f"{name}-{processes}-*.log")))
        raise FerStreamError(
            f"reference {name!r}: expected {processes} process(es) to load and report, "
            f"got {type(exc).__name__} (exit codes {[c.exitcode for c in children]}):\n{tail}"
        ) from exc
    finally:
        for child in children:
            child.join(timeout=10.0)
            if child.is_alive():
                child.kill()


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"


def _combine(
    name: str, processes: int, parts: list[ChildRun], frames: list[LabelledFrame]
) -> ReferenceResult:
    found: dict[int, list[Box]] = {}
    for part in parts:
        found.update(part.boxes)
    return ReferenceResult(
        name=name,
        processes=processes,
        frames=sum(p.frames for p in parts),
        faces=sum(p.faces for p in parts),
        frames_per_s=sum(p.frames / p.seconds for p in parts),
        cpu_fraction=sum(p.cpu / p.seconds for p in parts) / len(parts),
        true_faces=sum(len(frames[i].truth) for i in found),
        matched=sum(matched_faces(boxes, frames[i].truth) for i, boxes in found.items()),
    )


def _child(
    name: str,
    settings: Settings,
    frames: list[LabelledFrame],
    index: int,
    processes: int,
    seconds: float,
    barrier: Any,
    outputs: Any,
    log_path: Path | None = None,
) -> None:
    """One reference process: load, warm up, wait for the others, run, report."""
    from worker.runtime import configure_threads

    if log_path is not None:  # before TensorFlow loads: its C++ logging writes to fd 2
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
    configure_threads(1)
    if name == NOTEBOOK:
        run, detect, inputs, batch = _notebook(frames)
    elif name in (FER_PACKAGE, FER_KERAS):
        run, detect, inputs, batch = _fer(frames, use_tflite=name == FER_PACKAGE)
    else:
        run, detect, inputs, batch = _floor(frames, settings, f"floor-{index}")
    mine = list(range(index, len(inputs), processes)) or [index % len(inputs)]
    run([inputs[position] for position in mine[:WARMUP_FRAMES]])
    barrier.wait()
    boxes: dict[int, list[Box]] = {}
    count = faces = 0
    cpu, started = time.process_time(), time.perf_counter()
    while time.perf_counter() - started < seconds:
        positions = [mine[(count + k) % len(mine)] for k in range(batch)]
        for position, found in zip(positions, run([inputs[p] for p in positions]), strict=True):
            boxes.setdefault(position, found)  # first pass only: recall counts scenes once
            faces += len(found)
        count += batch
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    for position in mine:  # off the clock: recall over every scene, as the pool is scored
        if position not in boxes:
            boxes[position] = detect(inputs[position])
    outputs.put(ChildRun(frames=count, faces=faces, seconds=elapsed, cpu=cpu, boxes=boxes))


def _notebook(frames: list[LabelledFrame]) -> Reference:
    import cv2
    import keras
    import numpy as np

    from common.defaults import DEFAULT_CASCADE_FILE

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + DEFAULT_CASCADE_FILE)  # type: ignore[attr-defined]
    model = keras.applications.MobileNetV2(
        input_shape=(NOTEBOOK_INPUT, NOTEBOOK_INPUT, 3), alpha=1.0, weights=None, classes=7
    )
    images = [cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR) for f in frames]

    def detect(image: Any) -> list[Box]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = cascade.detectMultiScale(gray, NOTEBOOK_SCALE_FACTOR, NOTEBOOK_MIN_NEIGHBORS)
        return [(x, y, w, h) for x, y, w, h in np.asarray(found).reshape(-1, 4).tolist()]

    def run(image: Any) -> list[Box]:
        boxes = detect(image)
        for x, y, w, h in boxes:
            face = cv2.resize(image[y : y + h, x : x + w], (NOTEBOOK_INPUT, NOTEBOOK_INPUT))
            model.predict(np.expand_dims(face.astype("float32") / 255.0, 0), verbose=0)
        return boxes

    return one_at_a_time(run), detect, images, 1


def _fer(frames: list[LabelledFrame], use_tflite: bool = True) -> Reference:
    import cv2
    import numpy as np
    from fer.fer import FER  # not `from fer import FER`, its README's: 25.10.3 lacks that export

    model = FER(mtcnn=False) if use_tflite else FER(mtcnn=False, use_tflite=False)
    images = [cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR) for f in frames]

    def run(image: Any) -> list[Box]:
        found = model.detect_emotions(image)
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in (f["box"] for f in found)]

    # recall scores what it returns: a face its classification step skips counts as missed
    return one_at_a_time(run), run, images, 1


def _floor(frames: list[LabelledFrame], settings: Settings, worker_id: str) -> Reference:
    from common.wire import Frame, Result
    from worker.decoding import decode_gray
    from worker.runtime import load_pipeline

    pipeline = load_pipeline(settings.with_changes(threads_per_worker=1), worker_id)
    messages = [f.to_frame("floor", n, time.time()).encode() for n, f in enumerate(frames)]

    def run(group: list[bytes]) -> list[list[Box]]:
        """A batch of ``batch_max_frames`` frames, as a worker with frames waiting takes it."""
        results = pipeline.process_many([Frame.decode(m) for m in group], [0.0] * len(group))
        return [
            [(f.box.x, f.box.y, f.box.w, f.box.h) for f in r.faces] if isinstance(r, Result) else []
            for r in results
        ]

    def detect(message: bytes) -> list[Box]:
        frame = Frame.decode(message)
        gray = decode_gray(
            frame.image, frame.encoding, settings.max_frame_bytes, settings.max_frame_pixels
        )
        return list(pipeline.detector.detect(gray))

    return run, detect, messages, settings.batch_max_frames
