"""One frame in, one result out: decode, detect, crop, classify, with per-stage timings."""

from __future__ import annotations

import time
from dataclasses import dataclass

from common.preprocessing import crop_faces
from common.settings import Settings
from common.wire import Box, FaceResult, Frame, Result, StageTimings
from worker.classifier import EmotionClassifier
from worker.decoding import decode_gray
from worker.detector import FaceDetector


@dataclass
class FramePipeline:
    """Everything a worker process loads once: the detector, the classifier, the settings."""

    detector: FaceDetector
    classifier: EmotionClassifier
    settings: Settings
    worker_id: str

    def process(self, frame: Frame, queue_wait: float) -> Result:
        """Detect and classify every face of ``frame``; raises ``InvalidFrame`` on a bad image."""
        started = time.perf_counter()
        gray = decode_gray(
            frame.image,
            frame.encoding,
            self.settings.max_frame_bytes,
            self.settings.max_frame_pixels,
        )
        decoded = time.perf_counter()
        boxes = self.detector.detect(gray)
        detected = time.perf_counter()
        faces = crop_faces(gray, boxes, self.settings.face_margin)
        probabilities = self.classifier.classify(faces)
        classified = time.perf_counter()
        face_results = tuple(
            FaceResult(Box(*box), int(p.argmax()), tuple(float(v) for v in p))
            for box, p in zip(boxes, probabilities, strict=True)
        )
        timings = StageTimings(
            queue_wait=max(0.0, queue_wait),
            decode=decoded - started,
            detect=detected - decoded,
            classify=classified - detected,
            total=classified - started,
        )
        return Result(
            camera_id=frame.camera_id,
            frame_number=frame.frame_number,
            captured_at=frame.captured_at,
            faces=face_results,
            timings=timings,
            worker_id=self.worker_id,
            model_id=self.classifier.model_id,
            published_at=time.time(),
        )
