"""Frames in, results out: decode, detect, crop, classify, with per-stage timings.

Several frames go through together: each is decoded and searched for faces on its own,
then the faces of all of them are classified in one model call (micro-batching).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from common.errors import FerStreamError
from common.hints import Hint
from common.preprocessing import FACE_SIZE, crop_faces
from common.settings import Settings
from common.wire import Box, FaceResult, Frame, Result, StageTimings
from worker.classifier import EmotionClassifier, Probabilities
from worker.decoding import decode_gray
from worker.detector import BoxTuple, FaceDetector
from worker.guidance import GuidancePolicy, detect_guided, recheck_missing, should_search_whole


@dataclass(frozen=True)
class _Detected:
    """One frame after detection: its boxes and face crops, and when its stages ended."""

    frame: Frame
    queue_wait: float
    boxes: list[BoxTuple]
    faces: npt.NDArray[np.uint8]
    decode: float
    detect: float


@dataclass
class FramePipeline:
    """Everything a worker process loads once: the detector, the classifier, the settings."""

    detector: FaceDetector
    classifier: EmotionClassifier
    settings: Settings
    worker_id: str
    guidance: GuidancePolicy | None = None  # None: always search the whole frame

    def process(self, frame: Frame, queue_wait: float) -> Result:
        """Detect and classify every face of ``frame``; raises ``InvalidFrame`` on a bad image."""
        (outcome,) = self.process_many([frame], [queue_wait])
        if isinstance(outcome, FerStreamError):
            raise outcome
        return outcome

    def process_many(
        self,
        frames: Sequence[Frame],
        queue_waits: Sequence[float],
        hints: Mapping[str, Hint] | None = None,
    ) -> list[Result | FerStreamError]:
        """Results for ``frames``, their faces classified in one model call.

        A frame that cannot be decoded gets its ``FerStreamError`` in its place; the others
        go on. A frame's ``classify`` time is the shared call's, and its ``total`` runs
        from the start of the batch, so it includes waiting for the frames before it.
        With ``guidance`` set, ``hints`` (by camera) guide detection (``worker.guidance``).
        """
        started = time.perf_counter()
        hints = hints or {}
        outcomes: list[_Detected | FerStreamError] = [
            self._detect(frame, wait, hints.get(frame.camera_id))
            for frame, wait in zip(frames, queue_waits, strict=True)
        ]
        detected = [outcome for outcome in outcomes if isinstance(outcome, _Detected)]
        classifying = time.perf_counter()
        probabilities = self._classify([d.faces for d in detected])
        classified = time.perf_counter()
        results = iter(
            self._result(d, p, classified - classifying, classified - started)
            for d, p in zip(detected, probabilities, strict=True)
        )
        return [o if isinstance(o, FerStreamError) else next(results) for o in outcomes]

    def _detect(
        self, frame: Frame, queue_wait: float, hint: Hint | None
    ) -> _Detected | FerStreamError:
        started = time.perf_counter()
        try:
            gray = decode_gray(
                frame.image,
                frame.encoding,
                self.settings.max_frame_bytes,
                self.settings.max_frame_pixels,
                declared=(frame.width, frame.height),
            )
        except FerStreamError as exc:
            return exc
        decoded = time.perf_counter()
        boxes = self._find_faces(gray, frame, hint)
        faces = crop_faces(gray, boxes, self.settings.face_margin)
        return _Detected(
            frame, queue_wait, boxes, faces, decoded - started, time.perf_counter() - decoded
        )

    def _find_faces(
        self, gray: npt.NDArray[np.uint8], frame: Frame, hint: Hint | None
    ) -> list[BoxTuple]:
        policy = self.guidance
        if policy is None or hint is None:
            return self.detector.detect(gray)
        if should_search_whole(frame.frame_number, hint, policy):
            return self.detector.detect(gray)
        recheck = recheck_missing(frame.frame_number, policy)
        guided = detect_guided(self.detector, gray, hint, frame.captured_at, recheck)
        return self.detector.detect(gray) if guided is None else guided

    def _classify(self, per_frame: list[npt.NDArray[np.uint8]]) -> list[Probabilities]:
        """One classifier call for the faces of every frame, split back per frame."""
        if not per_frame:
            return []
        faces = np.concatenate(per_frame) if len(per_frame) > 1 else per_frame[0]
        if len(faces) == 0:
            faces = np.empty((0, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
        probabilities = self.classifier.classify(faces)
        ends = np.cumsum([len(f) for f in per_frame])[:-1]
        return list(np.split(probabilities, ends))

    def _result(
        self, detected: _Detected, probabilities: Probabilities, classify: float, total: float
    ) -> Result:
        frame = detected.frame
        faces = tuple(
            FaceResult(Box(*box), int(p.argmax()), tuple(float(v) for v in p))
            for box, p in zip(detected.boxes, probabilities, strict=True)
        )
        timings = StageTimings(
            queue_wait=max(0.0, detected.queue_wait),
            decode=detected.decode,
            detect=detected.detect,
            classify=classify,
            total=total,
        )
        return Result(
            camera_id=frame.camera_id,
            frame_number=frame.frame_number,
            captured_at=frame.captured_at,
            faces=faces,
            timings=timings,
            worker_id=self.worker_id,
            model_id=self.classifier.model_id,
            published_at=time.time(),
        )
