"""One frozen settings object, built once from environment variables and CLI options."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from common import defaults
from common.errors import FerStreamError

ENV_PREFIX = "FERSTREAM_"
OVERFLOW_POLICIES = ("drop_oldest", "drop_new", "block")
PRIVACY_MODES = ("off", "strict")
RESULTS_MODES = ("faces", "aggregate")
BLUR_MODES = ("off", "blur", "pixelate")


@dataclass(frozen=True)
class Settings:
    """Everything a producer, worker or command needs to know, in one place.

    Each field can be set from the environment as ``FERSTREAM_<FIELD>`` (upper case);
    ``REDIS_URL`` is read first for the Redis address, as rq does.
    """

    # may hold a password: left out of the repr
    redis_url: str | None = dataclasses.field(default=defaults.DEFAULT_REDIS_URL, repr=False)
    queue_name: str = defaults.DEFAULT_QUEUE_NAME
    key_prefix: str = defaults.DEFAULT_KEY_PREFIX
    results_stream_maxlen: int = defaults.DEFAULT_RESULTS_STREAM_MAXLEN
    job_result_ttl: int = defaults.DEFAULT_JOB_RESULT_TTL_SECONDS
    job_failure_ttl: int = defaults.DEFAULT_JOB_FAILURE_TTL_SECONDS
    max_frame_age: float = defaults.DEFAULT_MAX_FRAME_AGE_SECONDS
    max_pending_per_camera: int = defaults.DEFAULT_MAX_PENDING_PER_CAMERA
    overflow_policy: str = defaults.DEFAULT_OVERFLOW_POLICY
    max_frame_bytes: int = defaults.DEFAULT_MAX_FRAME_BYTES
    max_frame_pixels: int = defaults.DEFAULT_MAX_FRAME_PIXELS
    detect_cascade: str = defaults.DEFAULT_CASCADE_FILE
    detect_scale_factor: float = defaults.DEFAULT_DETECT_SCALE_FACTOR
    detect_min_neighbors: int = defaults.DEFAULT_DETECT_MIN_NEIGHBORS
    detect_min_face_size: int = defaults.DEFAULT_DETECT_MIN_FACE_SIZE
    detect_downscale: float = defaults.DEFAULT_DETECT_DOWNSCALE
    face_margin: float = defaults.DEFAULT_FACE_MARGIN
    model_path: Path = defaults.DEFAULT_MODEL_PATH
    flip_tta: bool = defaults.DEFAULT_FLIP_TTA
    cache_dir: Path | None = defaults.DEFAULT_CACHE_DIR
    batch_max_frames: int = defaults.DEFAULT_BATCH_MAX_FRAMES
    batch_max_wait: float = defaults.DEFAULT_BATCH_MAX_WAIT_SECONDS
    data_dir: Path = defaults.DEFAULT_DATA_DIR
    concurrency: int = defaults.DEFAULT_CONCURRENCY
    registry_sweep_seconds: int = defaults.DEFAULT_REGISTRY_SWEEP_SECONDS
    abandon_after_seconds: int = defaults.DEFAULT_ABANDON_AFTER_SECONDS
    worker_ttl_seconds: int = defaults.DEFAULT_WORKER_TTL_SECONDS
    threads_per_worker: int = 0  # 0: cores divided by concurrency
    metrics_addr: str = defaults.DEFAULT_METRICS_ADDR
    metrics_port: int = defaults.DEFAULT_METRICS_PORT  # worker pool exporter; 0: off
    producer_metrics_port: int = defaults.DEFAULT_PRODUCER_METRICS_PORT  # 0: off
    reconnect_attempts: int = defaults.DEFAULT_RECONNECT_ATTEMPTS  # live streams
    stream_timeout: float = defaults.DEFAULT_STREAM_TIMEOUT_SECONDS
    # per-face tracks and track-guided detection
    detect_guided: bool = defaults.DEFAULT_DETECT_GUIDED
    detect_full_every: int = defaults.DEFAULT_DETECT_FULL_EVERY
    track_min_iou: float = defaults.DEFAULT_TRACK_MIN_IOU
    track_min_hits: int = defaults.DEFAULT_TRACK_MIN_HITS
    track_max_missed_seconds: float = defaults.DEFAULT_TRACK_MAX_MISSED_SECONDS
    track_half_life: float = defaults.DEFAULT_TRACK_HALF_LIFE_SECONDS
    track_switch_margin: float = defaults.DEFAULT_TRACK_SWITCH_MARGIN
    track_switch_hold: float = defaults.DEFAULT_TRACK_SWITCH_HOLD_SECONDS
    track_confidence_floor: float = defaults.DEFAULT_TRACK_CONFIDENCE_FLOOR
    track_lease_ms: int = defaults.DEFAULT_TRACK_LEASE_MS
    track_reorder_window: int = defaults.DEFAULT_TRACK_REORDER_WINDOW
    track_reorder_wait: float = defaults.DEFAULT_TRACK_REORDER_WAIT_SECONDS
    tracks_stream_maxlen: int = defaults.DEFAULT_TRACKS_STREAM_MAXLEN
    track_hint_ttl_ms: int = defaults.DEFAULT_TRACK_HINT_TTL_MS
    # -- Redis user and TLS (issue 14): each process logs in as its own ACL user; the
    # password comes from the environment or a file, never argv (see common.redis_access)
    redis_username: str | None = None
    redis_password: str | None = dataclasses.field(default=None, repr=False)
    redis_password_file: Path | None = None
    redis_tls_ca_file: Path | None = None  # None: the system's trusted CAs
    redis_tls_cert_file: Path | None = None  # a client certificate, if the server asks for one
    redis_tls_key_file: Path | None = None
    redis_tls_check_hostname: bool = True
    # -- Redis Sentinel (issue 17): "host:port,host:port" of the sentinels and the name
    # of the master they watch; REDIS_URL then names only scheme, user and database
    # (its host is not used; default redis://<master>/0). The sentinels' own user and
    # password, if they ask for one, come from the environment or a file too.
    redis_sentinels: str = ""
    redis_sentinel_master: str = ""
    redis_sentinel_username: str | None = None
    redis_sentinel_password: str | None = dataclasses.field(default=None, repr=False)
    redis_sentinel_password_file: Path | None = None
    # privacy (PRIVACY.md): what is kept in Redis, how long, and what results may say
    privacy: str = defaults.DEFAULT_PRIVACY  # "off" or "strict"
    retention_seconds: int = defaults.DEFAULT_RETENTION_SECONDS  # 0: as the mode says
    results_mode: str = defaults.DEFAULT_RESULTS_MODE  # "faces" or "aggregate"
    aggregate_window: int = defaults.DEFAULT_AGGREGATE_WINDOW_SECONDS
    aggregate_min_faces: int = defaults.DEFAULT_AGGREGATE_MIN_FACES
    blur_faces: str = defaults.DEFAULT_BLUR_FACES  # "": as the mode says
    # the live view (ferstream web): a producer's newest-frame key, the web service's
    # address and credentials (from the environment or files, never argv)
    latest_frame_ttl_ms: int = defaults.DEFAULT_LATEST_FRAME_TTL_MS  # 0: off
    web_host: str = defaults.DEFAULT_WEB_HOST
    web_port: int = defaults.DEFAULT_WEB_PORT
    web_metrics_port: int = defaults.DEFAULT_WEB_METRICS_PORT  # Prometheus; 0: off
    web_token: str | None = dataclasses.field(default=None, repr=False)
    web_token_file: Path | None = None
    web_credentials_file: Path | None = None  # lines of user:password (basic auth)
    web_timeline_minutes: int = defaults.DEFAULT_WEB_TIMELINE_MINUTES
    web_render_ttl_ms: int = defaults.DEFAULT_WEB_RENDER_TTL_MS
    web_stale_seconds: float = defaults.DEFAULT_WEB_STALE_SECONDS

    def __post_init__(self) -> None:
        positive = (
            "results_stream_maxlen",
            "max_frame_bytes",
            "max_frame_pixels",
            "concurrency",
            "max_pending_per_camera",
            "batch_max_frames",
            "registry_sweep_seconds",
            "detect_full_every",
            "track_min_hits",
            "track_half_life",
            "track_lease_ms",
            "track_reorder_window",
            "tracks_stream_maxlen",
            "track_hint_ttl_ms",
            "web_timeline_minutes",
            "web_render_ttl_ms",
            "web_stale_seconds",
        )
        if self.abandon_after_seconds < 3:
            raise FerStreamError(
                f"setting abandon_after_seconds must be >= 3, got {self.abandon_after_seconds!r}"
            )
        if self.worker_ttl_seconds < 16:
            raise FerStreamError(
                f"setting worker_ttl_seconds must be >= 16, got {self.worker_ttl_seconds!r}"
            )
        for name in positive:
            if getattr(self, name) <= 0:
                raise FerStreamError(f"setting {name} must be > 0, got {getattr(self, name)!r}")
        if self.detect_scale_factor <= 1.0:
            raise FerStreamError(
                f"setting detect_scale_factor must be > 1.0, got {self.detect_scale_factor!r}"
            )
        if not 0.05 <= self.detect_downscale <= 1.0:
            raise FerStreamError(
                f"setting detect_downscale must be in [0.05, 1.0], got {self.detect_downscale!r}"
            )
        if self.overflow_policy not in OVERFLOW_POLICIES:
            raise FerStreamError(
                f"setting overflow_policy must be one of {OVERFLOW_POLICIES}, "
                f"got {self.overflow_policy!r}"
            )
        if self.reconnect_attempts < 0:
            raise FerStreamError(
                f"setting reconnect_attempts must be >= 0, got {self.reconnect_attempts!r}"
            )
        if not self.stream_timeout > 0:
            raise FerStreamError(f"setting stream_timeout must be > 0, got {self.stream_timeout!r}")
        if self.max_frame_age <= 0:
            raise FerStreamError(f"setting max_frame_age must be > 0, got {self.max_frame_age!r}")
        if not 0 <= self.batch_max_wait < self.max_frame_age:
            raise FerStreamError(
                f"setting batch_max_wait must be in [0, max_frame_age={self.max_frame_age}), "
                f"got {self.batch_max_wait!r}"
            )
        if self.latest_frame_ttl_ms < 0:
            raise FerStreamError(
                "setting latest_frame_ttl_ms must be >= 0 (0: off), "
                f"got {self.latest_frame_ttl_ms!r}"
            )
        if self.redis_password is not None and self.redis_password_file is not None:
            raise FerStreamError(
                "expected FERSTREAM_REDIS_PASSWORD or FERSTREAM_REDIS_PASSWORD_FILE, got both"
            )
        self._check_sentinels()
        for name in ("metrics_port", "producer_metrics_port", "web_port", "web_metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise FerStreamError(
                    f"setting {name} must be a TCP port 0..65535 (0: off), "
                    f"got {getattr(self, name)!r}"
                )
        self._check_privacy()

    def _check_sentinels(self) -> None:
        """Sentinels come with a master name; without a REDIS_URL, ``redis://<master>/0``."""
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise FerStreamError(
                "expected FERSTREAM_REDIS_SENTINELS and FERSTREAM_REDIS_SENTINEL_MASTER "
                f"together, got only {'the sentinels' if self.redis_sentinels else 'the master'}"
            )
        if self.redis_sentinel_password is not None and self.redis_sentinel_password_file:
            raise FerStreamError(
                "expected FERSTREAM_REDIS_SENTINEL_PASSWORD or "
                "FERSTREAM_REDIS_SENTINEL_PASSWORD_FILE, got both"
            )
        if self.redis_sentinels:
            sentinel_addresses(self.redis_sentinels)  # a clear error for a bad list
            if not self.redis_url:  # frozen: set once, here
                object.__setattr__(self, "redis_url", f"redis://{self.redis_sentinel_master}/0")

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """The sentinels' (host, port) pairs; empty without Sentinel."""
        return sentinel_addresses(self.redis_sentinels) if self.redis_sentinels else []

    def _check_privacy(self) -> None:
        for name, allowed in (
            ("privacy", PRIVACY_MODES),
            ("results_mode", RESULTS_MODES),
            ("blur_faces", ("", *BLUR_MODES)),
        ):
            if getattr(self, name) not in allowed:
                raise FerStreamError(
                    f"setting {name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if self.retention_seconds < 0:
            raise FerStreamError(
                f"setting retention_seconds must be >= 0 (0: as the privacy mode says), "
                f"got {self.retention_seconds!r}"
            )
        for name in ("aggregate_window", "aggregate_min_faces"):
            if getattr(self, name) < 1:
                raise FerStreamError(f"setting {name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def strict(self) -> bool:
        """Privacy mode ``strict``: no face at rest, results and counters age out."""
        return self.privacy == "strict"

    @property
    def results_retention(self) -> int:
        """Seconds results and counters are kept after their last write (0: no limit)."""
        if self.retention_seconds > 0:
            return self.retention_seconds
        return defaults.DEFAULT_STRICT_RETENTION_SECONDS if self.strict else 0

    @property
    def blur_mode(self) -> str:
        """How annotated outputs hide faces: ``off``, ``blur`` or ``pixelate``."""
        return self.blur_faces or ("blur" if self.strict else "off")

    @property
    def keeps_latest_frame(self) -> bool:
        """Whether producers keep their camera's newest frame for the live view (never
        under strict privacy: no frame may outlive its job)."""
        return self.latest_frame_ttl_ms > 0 and not self.strict

    @property
    def aggregating(self) -> bool:
        """Results are per-camera emotion counts per window, not per-face results."""
        return self.results_mode == "aggregate"

    @property
    def aggregate_grace(self) -> int:
        """Seconds after a window ends before it closes: a frame captured in it may be
        settled up to its max age plus a batch's longest run after its capture."""
        return math.ceil(self.max_frame_age) + self.abandon_after_seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``env`` (default ``os.environ``), then apply non-None overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("REDIS_URL"):
            values["redis_url"] = env["REDIS_URL"]
        for field in fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _parse(field.name, str(field.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def queued_job_ttl(self) -> int:
        """Seconds a queued frame job may live in Redis.

        Longer than ``max_frame_age`` so a worker sees a stale frame and counts it as
        dropped rather than Redis expiring it silently; short enough to bound memory.
        Strict privacy: a small margin past the max age, so no frame's pixels outlive it.
        """
        if self.strict:
            return math.ceil(self.max_frame_age) + defaults.PRIVACY_FRAME_TTL_MARGIN_SECONDS
        return math.ceil(self.max_frame_age) + 60

    def to_env(self) -> dict[str, str]:
        """Environment variables that rebuild these settings in a child process."""
        env = {ENV_PREFIX + f.name.upper(): _format(getattr(self, f.name)) for f in fields(self)}
        env.pop(ENV_PREFIX + "REDIS_URL")
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def worker_threads(self, cores: int | None = None) -> int:
        """Threads each worker process may use so N processes do not oversubscribe the cores."""
        if self.threads_per_worker > 0:
            return self.threads_per_worker
        return max(1, (cores or os.cpu_count() or 1) // self.concurrency)


def sentinel_addresses(text: str) -> list[tuple[str, int]]:
    """``"h1:26379, h2:26379"`` as ``[("h1", 26379), ("h2", 26379)]``; a clear error else."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise FerStreamError(
                "FERSTREAM_REDIS_SENTINELS: expected host:port[,host:port...], "
                f"got {item!r} in {text!r}"
            )
        found.append((host.strip("[]"), int(port)))
    return found


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(name: str, type_name: str, raw: str) -> Any:
    try:
        if "bool" in type_name:
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(raw)
            return lowered in {"1", "true", "yes", "on"}
        if "int" in type_name:
            return int(raw)
        if "float" in type_name:
            return float(raw)
        if "Path" in type_name:
            return Path(raw)
    except ValueError as exc:
        raise FerStreamError(
            f"environment variable {ENV_PREFIX}{name.upper()}: expected {type_name}, got {raw!r}"
        ) from exc
    return raw
