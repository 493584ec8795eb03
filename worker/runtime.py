"""Loading a worker process's frame pipeline, once, and capping its threads."""

from __future__ import annotations

import functools
import os
import socket

from common.settings import Settings
from worker.guidance import GuidancePolicy
from worker.pipeline import FramePipeline


def configure_threads(threads: int) -> None:
    """Cap OpenCV's threads (and OpenMP's) so N worker processes share the cores.

    LiteRT gets the same count when the model is loaded (``worker.classifier``). The
    environment is set too, so TensorFlow, which benchmarks' references load and a worker
    never does, follows the same cap if it loads later in this process.
    """
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2

    cv2.setNumThreads(threads)


def default_worker_id() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"


def load_pipeline(settings: Settings, worker_id: str | None = None) -> FramePipeline:
    """Load the Haar detector and the emotion model named by ``settings``."""
    from worker.classifier import LiteRtEmotionClassifier
    from worker.detector import HaarFaceDetector

    return FramePipeline(
        detector=HaarFaceDetector.from_settings(settings),
        classifier=LiteRtEmotionClassifier.from_model_file(
            settings.model_path,
            settings.cache_dir,
            settings.worker_threads(),
            settings.flip_tta,
        ),
        settings=settings,
        worker_id=worker_id or default_worker_id(),
        guidance=guidance_policy(settings),
    )


def guidance_policy(settings: Settings) -> GuidancePolicy | None:
    """How detection follows the tracks (``detect_guided``), or None: whole frames only."""
    if not settings.detect_guided:
        return None
    return GuidancePolicy(full_every=settings.detect_full_every)


@functools.cache
def shared_pipeline(settings: Settings) -> FramePipeline:
    """The pipeline for ``settings``, loaded on first use and kept for the process: for
    frame jobs that RQ's own worker runs (``FerWorker`` is handed its pipeline)."""
    return load_pipeline(settings)
