"""Every default in one place. Settings read these; nothing else hard-codes them."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Redis and queues
DEFAULT_REDIS_URL: str | None = None  # None: start the embedded redis-server
DEFAULT_QUEUE_NAME = "ferstream-frames"
DEFAULT_KEY_PREFIX = "ferstream"
DEFAULT_RESULTS_STREAM_MAXLEN = 1000
# What Redis may buffer for a results subscriber that does not read (redis-server's
# client-output-buffer-limit for pub/sub: hard limit, soft limit, seconds over the soft
# one): past it Redis drops the subscriber, so a stuck consumer costs at most this much
# memory and never slows the workers. Redis's own is 32mb 8mb 60. A result is ~0.5 kB:
# 2 MB is ~4,000 results behind, half a minute of a two-core pool at saturation.
DEFAULT_PUBSUB_OUTPUT_LIMIT = ("8mb", "2mb", "10")
# How long a finished frame job (its frame's JPEG included) stays in Redis. 0: deleted as
# it finishes, so Redis holds only frames still waiting; the frame's result lives on in
# its camera's stream, not in RQ. (With 5 s, Redis peaked at 29.7 MiB at 200 % load in
# `ferstream bench`; with 0, at 6.7 MiB.)
DEFAULT_JOB_RESULT_TTL_SECONDS = 0
DEFAULT_JOB_FAILURE_TTL_SECONDS = 600
DEFAULT_MAX_FRAME_AGE_SECONDS = 2.0
DEFAULT_MAX_PENDING_PER_CAMERA = 4
DEFAULT_OVERFLOW_POLICY = "drop_oldest"  # or "drop_new", "block"

# Frame limits, checked before any decoding
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_FRAME_PIXELS = 3840 * 2160

# Face detection (OpenCV Haar cascade: a file name in cv2.data.haarcascades, or a path)
# From `ferstream bench-detect` (labelled 640x480 scenes, faces 90-200 px): on a half-size
# frame, OpenCV's alt2 cascade with scale 1.2 and one neighbour finds as many faces as the
# source notebook's (default cascade, 1.1, 4, full frame; recall 0.80 vs 0.79) in 11 ms
# instead of 74, with few false faces (0.02 a frame). Faces under 60 px need a smaller
# minimum size and a larger downscale.
DEFAULT_CASCADE_FILE = "haarcascade_frontalface_alt2.xml"
DEFAULT_DETECT_SCALE_FACTOR = 1.2
DEFAULT_DETECT_MIN_NEIGHBORS = 1
DEFAULT_DETECT_MIN_FACE_SIZE = 60
DEFAULT_DETECT_DOWNSCALE = 0.5  # detect on a half-size frame (1.0: full size)
# The serving crop: the Haar box grown by this share of its side on each side, cut square.
# `python -m training.real_footage` boxes FER2013's own faces with the serving detector:
# the box is 0.97 of FER2013's crop, centred, so a margin of ~0.02 reproduces the
# framing the model learnt; on those crops a margin of 0.1 cost 5 points of accuracy.
DEFAULT_FACE_MARGIN = 0.0

# Emotion model
DEFAULT_MODEL_PATH = PROJECT_ROOT / "models" / "ferstream-mnv2.keras"
DEFAULT_MODEL_FACE_SIZE = 48  # the model's input: a 48x48 grayscale face, as in FER2013
DEFAULT_FLIP_TTA = False
# where workers keep the model's LiteRT conversion (worker.model_file; empty: a temp folder)
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "ferstream"

# Micro-batching: a worker that finds frames waiting classifies the faces of up to this
# many frames in one model call (one thread, LiteRT: one face 0.75 ms alone, 0.57 ms
# each in a call of 64).
DEFAULT_BATCH_MAX_FRAMES = 4
# How long a worker holding fewer frames waits for more before it starts (0: take only
# what is already waiting, so a lone frame is never delayed).
DEFAULT_BATCH_MAX_WAIT_SECONDS = 0.0

# Producers
DEFAULT_TARGET_FPS = 10.0
DEFAULT_JPEG_QUALITY = 85
DEFAULT_MAX_FRAME_SIDE = 1280
DEFAULT_RECONNECT_BACKOFF_SECONDS = (0.5, 10.0)
# A live stream that drops, stalls or sends no decodable frame is reopened this many times
# (0.5 + 1 + 2 + 4 + 8 + 10 + 10 + 10 s of backoff) before the producer gives up.
DEFAULT_RECONNECT_ATTEMPTS = 8
# How long FFmpeg may wait to open a network stream or to read its next frame: a stalled
# camera is noticed this long after its last frame.
DEFAULT_STREAM_TIMEOUT_SECONDS = 5.0

# Data
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "fer2013"

# Worker pool
DEFAULT_CONCURRENCY = 1
# How long a command that starts workers (demo, analyze, bench) waits for them to load the
# model and listen: several processes importing it at once on a shared two-core machine.
DEFAULT_WORKER_START_TIMEOUT_SECONDS = 300.0
# How often a worker sweeps RQ's registries (one worker per interval does it), settling
# frames lost with a dead worker. It also bounds Redis memory: with a job result TTL
# above 0, ids of expired finished jobs pile up in RQ's finished-job registry (~130 bytes
# a frame) until a sweep. Five seconds settles a lost frame soon after it is abandoned.
DEFAULT_REGISTRY_SWEEP_SECONDS = 5
# A started frame whose worker died is settled as failed:abandoned once this long has
# passed since its batch started (RQ's execution TTL; RQ's own is 90 s). A batch may run
# for at most this minus BATCH_TIME_MARGIN_SECONDS (worker.batch), so a live worker
# always settles its frames before they count as abandoned.
DEFAULT_ABANDON_AFTER_SECONDS = 10
# A worker's registration in Redis expires this long after its last heartbeat, plus
# RQ's 60 s; it waits at most this minus 15 s in one blocking dequeue (RQ: 420 s).
DEFAULT_WORKER_TTL_SECONDS = 20
# Backoff (first, cap) while a worker waits for Redis to come back: a ping a second at
# most once the outage lasts, so work resumes within a second of Redis (RQ's cap: 60 s).
DEFAULT_WORKER_RECONNECT_BACKOFF_SECONDS = (0.2, 1.0)

# Prometheus metrics endpoints (0: off)
DEFAULT_METRICS_ADDR = "0.0.0.0"  # scrapeable from another container or host
DEFAULT_METRICS_PORT = 9100  # one endpoint per worker pool, covering all its processes
DEFAULT_PRODUCER_METRICS_PORT = 0  # a producer's own endpoint (compose uses 9101)

# Per-face tracks (tracking/) and track-guided detection (worker/guidance.py)
DEFAULT_DETECT_GUIDED = False  # search near a camera's tracks when the track service runs
DEFAULT_DETECT_FULL_EVERY = 10  # frames of a camera between whole-frame searches
DEFAULT_TRACK_MIN_IOU = 0.2  # a detection continues a track it overlaps this much
DEFAULT_TRACK_MIN_HITS = 2  # frames a track is seen in before it is published
DEFAULT_TRACK_MAX_MISSED_SECONDS = 1.5  # a track coasts unseen this long, then ends
# Smoothing, chosen on bench-tracks' moving scenes (half-lives 0.1-0.3 s, margins 0.05-0.15,
# holds 0-0.2 s, floors 0.2-0.25): these kept the labels inside expression segments at least
# as right as raw ones with a median lag under 0.4 s; longer half-lives and holds only added
# lag, and a floor of 0.25 showed "uncertain" where the best class was right
DEFAULT_TRACK_HALF_LIFE_SECONDS = 0.15  # of the smoothed probabilities
DEFAULT_TRACK_SWITCH_MARGIN = 0.05  # a new label must lead the shown one by this much ...
DEFAULT_TRACK_SWITCH_HOLD_SECONDS = 0.1  # ... for this long
DEFAULT_TRACK_CONFIDENCE_FLOOR = 0.2  # under it the label is "uncertain"
DEFAULT_TRACK_LEASE_MS = 5000  # a track service replica's hold on a camera
DEFAULT_TRACK_REORDER_WINDOW = 8  # results held to put a camera's frames back in order
DEFAULT_TRACK_REORDER_WAIT_SECONDS = 0.2  # the longest a result waits for an earlier one
DEFAULT_TRACKS_STREAM_MAXLEN = 1000  # Tracks messages kept per camera
DEFAULT_TRACK_HINT_TTL_MS = 2000  # how long a camera's last boxes guide detection
# Privacy (FERSTREAM_PRIVACY; what each promise means and how it is kept: PRIVACY.md)
DEFAULT_PRIVACY = "off"  # or "strict"
# Strict: a queued frame's job (its JPEG) expires this long after its max age, so Redis
# drops a frame no worker reached; a worker that does reach it takes the pixels off its
# job as it starts it. Long enough for a live pool to reach a frame and count it stale.
PRIVACY_FRAME_TTL_MARGIN_SECONDS = 5
# Results and counters: kept this long after their last write, results streams trimmed
# to this age too (0: kept as long as the stream's length allows; strict: the next one).
DEFAULT_RETENTION_SECONDS = 0
DEFAULT_STRICT_RETENTION_SECONDS = 3600
# "faces": a result per frame with every face; "aggregate": per camera, emotion counts
# per window, published only when at least DEFAULT_AGGREGATE_MIN_FACES faces were seen.
DEFAULT_RESULTS_MODE = "faces"
DEFAULT_AGGREGATE_WINDOW_SECONDS = 10
DEFAULT_AGGREGATE_MIN_FACES = 5
# Annotated outputs (ferstream analyze): "off", "blur" or "pixelate" each face under its
# box and label ("": off, strict: blur).
DEFAULT_BLUR_FACES = ""
# The live view (ferstream web, issue 16). A producer keeps its camera's newest frame in
# one short-lived key for the renderer (0: off; never under strict privacy).
DEFAULT_LATEST_FRAME_TTL_MS = 3000
DEFAULT_WEB_HOST = "127.0.0.1"  # anonymous access only here; any other needs credentials
DEFAULT_WEB_PORT = 8090
# its metrics for Prometheus without credentials, as every other service serves them (0: off;
# /metrics on the web port always needs the viewers' credentials)
DEFAULT_WEB_METRICS_PORT = 0
DEFAULT_WEB_TIMELINE_MINUTES = 5  # the camera page's emotion timeline
DEFAULT_WEB_RENDER_TTL_MS = 60_000  # an annotated frame outlives its frame, marked stale
DEFAULT_WEB_STALE_SECONDS = 3.0  # no new result this long: the drawing is marked stale
