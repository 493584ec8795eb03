"""Every default in one place. Settings read these; nothing else hard-codes them."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Redis and queues
DEFAULT_REDIS_URL: str | None = None  # None: start the embedded redis-server
DEFAULT_QUEUE_NAME = "ferstream-frames"
DEFAULT_KEY_PREFIX = "ferstream"
DEFAULT_RESULTS_STREAM_MAXLEN = 1000
# A finished job keeps its frame (the JPEG) in Redis this long: short, so memory under
# load stays small (results live on in the camera's stream, not in RQ).
DEFAULT_JOB_RESULT_TTL_SECONDS = 5
DEFAULT_JOB_FAILURE_TTL_SECONDS = 600
DEFAULT_MAX_FRAME_AGE_SECONDS = 2.0
DEFAULT_MAX_PENDING_PER_CAMERA = 4
DEFAULT_OVERFLOW_POLICY = "drop_oldest"  # or "drop_new", "block"

# Frame limits, checked before any decoding
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_FRAME_PIXELS = 3840 * 2160

# Face detection (OpenCV Haar cascade)
DEFAULT_CASCADE_FILE = "haarcascade_frontalface_default.xml"
# From `ferstream bench-detect` (150 labelled scenes, 192 settings): the fastest setting
# with the recall of OpenCV's usual (1.1, 5, 40): 0.768 vs 0.771, 22 ms vs 54 ms per
# 640x480 frame, a third of the false faces. Faces under 60 px need a smaller minimum.
DEFAULT_DETECT_SCALE_FACTOR = 1.2
DEFAULT_DETECT_MIN_NEIGHBORS = 3
DEFAULT_DETECT_MIN_FACE_SIZE = 60
DEFAULT_DETECT_DOWNSCALE = 1.0  # 0.5 detects on a half-size frame
DEFAULT_FACE_MARGIN = 0.1

# Emotion model
DEFAULT_MODEL_PATH = PROJECT_ROOT / "models" / "ferstream-mnv2.keras"
DEFAULT_MODEL_FACE_SIZE = 48  # the model's input: a 48x48 grayscale face, as in FER2013
DEFAULT_FLIP_TTA = False

# Producers
DEFAULT_TARGET_FPS = 10.0
DEFAULT_JPEG_QUALITY = 85
DEFAULT_MAX_FRAME_SIDE = 1280
DEFAULT_RECONNECT_BACKOFF_SECONDS = (0.5, 10.0)

# Data
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "fer2013"

# Worker pool
DEFAULT_CONCURRENCY = 1

# Prometheus metrics endpoints (0: off)
DEFAULT_METRICS_ADDR = "0.0.0.0"  # scrapeable from another container or host
DEFAULT_METRICS_PORT = 9100  # one endpoint per worker pool, covering all its processes
DEFAULT_PRODUCER_METRICS_PORT = 0  # a producer's own endpoint (compose uses 9101)
