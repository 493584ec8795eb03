"""``ferstream analyze VIDEO``: every frame of a file through the queue and the workers.

Frames are submitted with a bounded number in flight (so none goes stale in the queue),
results are collected by frame number, the faces are tracked over the video's time
(``tracking.offline``), then a second pass writes the annotated video (each face's track
id and smoothed label) and a CSV (or JSONL) of per-frame emotions, raw and smoothed.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import redis

from common.accounting import read_counts
from common.defaults import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_FRAME_SIDE
from common.errors import FerStreamError
from common.palette import EMOTION_BGR, UNCERTAIN_BGR
from common.results import follow
from common.settings import Settings
from common.wire import EMOTIONS, Result
from ferstream.blurring import hide_faces
from producer.sources import open_source
from producer.submit import FrameSubmitter
from tracking.offline import track_video
from tracking.service import tracker_config
from tracking.tracker import TrackState

COLOURS = list(EMOTION_BGR)  # one colour per emotion (common.palette)
WAIT_SECONDS = 60.0
DEFAULT_FPS = 25.0  # for a file that does not say
UNCERTAIN_COLOUR = UNCERTAIN_BGR


@dataclass(frozen=True)
class AnalyzeOptions:
    video: Path
    out: Path
    table: Path | None = None  # .csv or .jsonl
    in_flight: int = 8
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    max_side: int = DEFAULT_MAX_FRAME_SIDE
    blur: str = "off"  # faces in the video: "off", "blur" or "pixelate" (labels still drawn)


def analyze_video(
    connection: redis.Redis[bytes],
    settings: Settings,
    options: AnalyzeOptions,
    progress: Callable[[int], None] = lambda _n: None,
) -> dict[int, Result]:
    """Submit every frame, wait for every result, write the outputs; results by frame number."""
    if settings.aggregating:
        raise FerStreamError(
            "expected per-face results to annotate (FERSTREAM_RESULTS_MODE=faces), "
            "got results mode aggregate"
        )
    camera_id = f"analyze-{uuid.uuid4().hex[:8]}"
    results = _collect(connection, settings, options, camera_id, progress)
    tracks = track_video(results, video_fps(options.video), tracker_config(settings))
    _write_video(options, results, tracks)
    if options.table:
        _write_table(options.table, results, tracks)
    return results


def video_fps(video: Path) -> float:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return float(fps) if fps and fps > 0 else DEFAULT_FPS


def _collect(
    connection: redis.Redis[bytes],
    settings: Settings,
    options: AnalyzeOptions,
    camera_id: str,
    progress: Callable[[int], None],
) -> dict[int, Result]:
    # Every frame of a file matters: wait for room rather than drop (the window keeps it short).
    admit_all = settings.with_changes(
        overflow_policy="block", max_pending_per_camera=options.in_flight
    )
    submitter = FrameSubmitter(connection, admit_all)
    results: dict[int, Result] = {}
    stream = follow(
        connection, settings.key_prefix, [camera_id], after={camera_id: b"0-0"}, block_ms=200
    )
    submitted = 0
    with open_source(str(options.video)) as source:
        for captured in source:
            while submitted - _settled(connection, settings, camera_id) >= options.in_flight:
                _take(stream, results, progress)
            submitter.submit(
                camera_id,
                submitted,
                captured,
                jpeg_quality=options.jpeg_quality,
                max_side=options.max_side,
            )
            submitted += 1
    deadline = time.monotonic() + WAIT_SECONDS
    while _settled(connection, settings, camera_id) < submitted and time.monotonic() < deadline:
        _take(stream, results, progress)
    while _take(stream, results, progress):
        pass
    return results


def _settled(connection: redis.Redis[bytes], settings: Settings, camera_id: str) -> int:
    return read_counts(connection, settings.key_prefix, camera_id).settled


def _take(stream: object, results: dict[int, Result], progress: Callable[[int], None]) -> bool:
    item = next(stream)  # type: ignore[call-overload]
    if item is None:
        return False
    result: Result = item[1]
    results[result.frame_number] = result
    progress(1)
    return True


def annotate(
    image: npt.NDArray[np.uint8],
    result: Result | None,
    scale: float = 1.0,
    tracks: list[TrackState] | None = None,
    blur: str = "off",
) -> npt.NDArray[np.uint8]:
    """Boxes and labels drawn on a copy of a BGR frame; ``scale`` maps result boxes onto it.

    With ``tracks``, each tracked face shows its track id and smoothed label; faces not
    (yet) on a track show their raw label. With ``blur`` (``blur``, ``pixelate``) each
    face is hidden under its box and label.
    """
    out = image.copy()
    if result is None:
        cv2.putText(out, "no result", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
        return out
    scaled = [tuple(round(v * scale) for v in face.box.as_list()) for face in result.faces]
    hide_faces(out, scaled, blur)  # type: ignore[arg-type]
    on_track = [t for t in tracks or [] if t.seen]
    for face in result.faces:
        box = tuple(face.box.as_list())
        state = next((t for t in on_track if t.box == box), None)
        x, y, w, h = (round(v * scale) for v in box)
        if state is None:
            colour, text = COLOURS[face.label], f"{face.emotion} {max(face.probabilities):.0%}"
        else:
            colour = UNCERTAIN_COLOUR if state.label is None else COLOURS[state.label]
            shown = "uncertain" if state.label is None else EMOTIONS[state.label]
            text = f"#{state.track_id[:4]} {shown}"
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        _label(out, text, x, y, colour)
    return out


def _label(
    image: npt.NDArray[np.uint8], text: str, x: int, y: int, colour: tuple[int, ...]
) -> None:
    """White text on a box of the face's colour, just above (x, y), readable on any scene."""
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.55
    (width, height), baseline = cv2.getTextSize(text, font, size, 1)
    top = max(0, y - height - baseline - 4)
    cv2.rectangle(image, (x, top), (x + width + 6, top + height + baseline + 4), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 3, top + height + 2), font, size, (255, 255, 255), 1, cv2.LINE_AA)


def _write_video(
    options: AnalyzeOptions, results: dict[int, Result], tracks: dict[int, list[TrackState]]
) -> None:
    fps = video_fps(options.video)
    with open_source(str(options.video)) as source:
        writer: cv2.VideoWriter | None = None
        for number, captured in enumerate(source):
            # boxes are in the pixels that were sent: undo the producer's downscale
            scale = max(1.0, max(captured.image.shape[:2]) / options.max_side)
            frame = annotate(
                captured.image, results.get(number), scale, tracks.get(number), options.blur
            )
            if writer is None:
                options.out.parent.mkdir(parents=True, exist_ok=True)
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(options.out), fourcc, fps, size)
            writer.write(frame)
        if writer is not None:
            writer.release()


def _write_table(
    path: Path, results: dict[int, Result], tracks: dict[int, list[TrackState]]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        with open(path, "w") as handle:
            for number in sorted(results):
                row = results[number].to_json_dict()
                for face in row["faces"]:
                    face.update(_track_columns(tuple(face["box"]), tracks.get(number, [])))
                handle.write(json.dumps(row) + "\n")
        return
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                *["frame", "face", "x", "y", "w", "h", "emotion"],
                *[f"p_{e}" for e in EMOTIONS],
                *["track", "smoothed_emotion"],
                *[f"smoothed_p_{e}" for e in EMOTIONS],
            ]
        )
        for number in sorted(results):
            for index, face in enumerate(results[number].faces):
                track = _track_columns(tuple(face.box.as_list()), tracks.get(number, []))
                smoothed = track["smoothed_probabilities"] or []
                writer.writerow(
                    [
                        number,
                        index,
                        *face.box.as_list(),
                        face.emotion,
                        *[f"{p:.4f}" for p in face.probabilities],
                        track["track"] or "",
                        track["smoothed_emotion"] or "",
                        *[f"{p:.4f}" for p in smoothed],
                    ]
                )


def _track_columns(box: tuple[int, ...], tracks: list[TrackState]) -> dict[str, Any]:
    """The track a face of this frame is on (if any): its id, smoothed label and probabilities."""
    state = next((t for t in tracks if t.seen and t.box == box), None)
    if state is None:
        return {"track": None, "smoothed_emotion": None, "smoothed_probabilities": None}
    return {
        "track": state.track_id,
        "smoothed_emotion": "uncertain" if state.label is None else EMOTIONS[state.label],
        "smoothed_probabilities": list(state.smoothed),
    }
