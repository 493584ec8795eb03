"""Every Prometheus metric the project exports, declared once, named in base units.

Workers record into ``WorkerMetrics``, producers into ``ProducerMetrics``; each is built
on the registry given to ``create`` (tests pass a fresh ``CollectorRegistry`` and read
values with ``get_sample_value``). A process uses one instance of each, built on first
use on the default registry (``worker_metrics()``, ``producer_metrics()``); a
``FerWorker`` is handed its own, and ``install_worker_metrics`` swaps the process's.

The worker processes of a pool run in prometheus_client's multiprocess mode (the pool
sets ``PROMETHEUS_MULTIPROC_DIR`` for them, see ``common.metrics_server``). What describes
the host or the broker rather than one process (queue depth, busy and idle workers,
Redis memory, restarts) is read when scraped, by ``BrokerCollector`` in the pool process.

Labels are bounded: ``camera`` (validated camera ids; ``_unknown`` when unreadable),
``reason`` (the accounting reasons), ``stage``, ``emotion`` (the 7 classes), ``queue``,
``state``. Never a frame number or a job id.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue, Worker

from common.errors import SchemaError
from common.keys import aggregate_stream, cameras_set, results_stream, tracks_stream
from common.retention import oldest_entry_ages
from common.serializer import MsgpackSerializer
from common.wire import EMOTIONS, Result, check_camera_id

# End to end (capture -> published) and queue wait: a real-time budget of a few hundred
# milliseconds, with room to see seconds-long backlogs. 0.25 is the latency SLO.
LATENCY_BUCKETS = (
    *(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75),
    *(1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
# One stage of one frame: sub-millisecond decode of a small JPEG up to a slow classify.
STAGE_BUCKETS = (
    *(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05),
    *(0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
)
# Faces in one frame = the classifier's batch size for that frame.
FACES_BUCKETS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 32)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32)

STAGES = ("decode", "detect", "classify", "publish")
WORKER_STATES = ("busy", "idle", "suspended")
LATENCY_SLO_SECONDS = 0.25  # p95 capture -> published; monitoring/alerts.yml uses it
# ferstream_model_info's version labels: what a worker process runs (LiteRT, not TensorFlow)
VERSION_LABELS = {
    "ferstream_version": "ferstream",
    "litert_version": "ai-edge-litert",
    "opencv_version": "opencv-python-headless",
    "rq_version": "rq",
}


@dataclass(frozen=True)
class WorkerMetrics:
    """What worker processes count and time, per frame."""

    frames_processed: Counter
    frames_dropped: Counter
    frames_failed: Counter
    faces_detected: Counter
    faces_by_emotion: Counter
    end_to_end_latency: Histogram
    queue_wait: Histogram
    stage_duration: Histogram
    faces_per_frame: Histogram
    batch_frames: Histogram
    model_info: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = REGISTRY) -> WorkerMetrics:
        """Declare the worker metrics on ``registry``."""
        camera = ("camera",)
        metrics = cls(
            frames_processed=Counter(
                "ferstream_frames_processed_total",
                "Frames whose result was published.",
                camera,
                registry=registry,
            ),
            frames_dropped=Counter(
                "ferstream_frames_dropped_total",
                "Frames skipped on purpose (stale: older than max_frame_age when reached).",
                ("camera", "reason"),
                registry=registry,
            ),
            frames_failed=Counter(
                "ferstream_frames_failed_total",
                "Frame jobs that failed (schema, empty, too_large, truncated, decode, "
                "model, internal, foreign_job).",
                ("camera", "reason"),
                registry=registry,
            ),
            faces_detected=Counter(
                "ferstream_faces_detected_total",
                "Faces found and classified.",
                camera,
                registry=registry,
            ),
            faces_by_emotion=Counter(
                "ferstream_faces_by_emotion_total",
                "Faces by predicted emotion.",
                ("camera", "emotion"),
                registry=registry,
            ),
            end_to_end_latency=Histogram(
                "ferstream_end_to_end_latency_seconds",
                "Capture (producer clock) to result published (worker clock).",
                camera,
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            queue_wait=Histogram(
                "ferstream_queue_wait_seconds",
                "Enqueued to picked up by a worker.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            stage_duration=Histogram(
                "ferstream_stage_duration_seconds",
                "Time in one stage of one frame: decode, detect, classify, publish.",
                ("stage",),
                buckets=STAGE_BUCKETS,
                registry=registry,
            ),
            faces_per_frame=Histogram(
                "ferstream_faces_per_frame",
                "Faces per processed frame.",
                buckets=FACES_BUCKETS,
                registry=registry,
            ),
            batch_frames=Histogram(
                "ferstream_batch_frames",
                "Frames whose faces went through one classifier call (micro-batching).",
                buckets=BATCH_BUCKETS,
                registry=registry,
            ),
            model_info=Gauge(
                "ferstream_model_info",
                "The loaded emotion model and software versions (value 1).",
                ("model_id", "input_size", "flip_tta", *_version_labels()),
                multiprocess_mode="livemax",
                registry=registry,
            ),
        )
        for stage in STAGES:  # every stage has a series from the start
            metrics.stage_duration.labels(stage=stage)
        return metrics

    def record_processed(
        self, result: Result, publish_seconds: float, published_at: float, per_face: bool = True
    ) -> None:
        """Count and time one published ``result`` (without ``per_face``, its faces are
        not counted by emotion: results mode aggregate publishes no face's emotion)."""
        camera = result.camera_id
        self.frames_processed.labels(camera=camera).inc()
        self.end_to_end_latency.labels(camera=camera).observe(
            max(0.0, published_at - result.captured_at)
        )
        timings = result.timings
        self.queue_wait.observe(timings.queue_wait)
        for stage, seconds in (
            ("decode", timings.decode),
            ("detect", timings.detect),
            ("classify", timings.classify),
            ("publish", publish_seconds),
        ):
            self.stage_duration.labels(stage=stage).observe(seconds)
        self.faces_per_frame.observe(len(result.faces))
        if result.faces:
            self.faces_detected.labels(camera=camera).inc(len(result.faces))
        for face in result.faces if per_face else ():
            self.faces_by_emotion.labels(camera=camera, emotion=EMOTIONS[face.label]).inc()

    def record_batch(self, frames: int) -> None:
        """One classifier call served ``frames`` frames."""
        self.batch_frames.observe(frames)

    def record_dropped(self, camera: str, reason: str) -> None:
        self.frames_dropped.labels(camera=camera, reason=reason).inc()

    def record_failed(self, camera: str, reason: str) -> None:
        self.frames_failed.labels(camera=camera, reason=reason).inc()

    def record_model(self, model_id: str, input_size: int, flip_tta: bool) -> None:
        """Publish which model this process serves, with the versions it runs on."""
        self.model_info.labels(
            model_id=model_id,
            input_size=f"{input_size}x{input_size}",
            flip_tta=str(flip_tta).lower(),
            **{label: _version(package) for label, package in VERSION_LABELS.items()},
        ).set(1)


@dataclass(frozen=True)
class SourceHealth:
    """How one camera's live source is doing; the source reports into it as it reads."""

    up: Gauge
    reconnects: Counter
    read_failures: Counter

    def frame_arrived(self) -> None:
        self.up.set(1)

    def read_failed(self) -> None:
        self.read_failures.inc()

    def down(self) -> None:
        """No frames now: reconnecting, given up or closed."""
        self.up.set(0)

    def reconnecting(self) -> None:
        """One attempt to reopen the stream is being made."""
        self.reconnects.inc()


@dataclass(frozen=True)
class ProducerMetrics:
    """What a producer counts, per camera."""

    frames_submitted: Counter
    submit_failures: Counter
    source_up: Gauge
    source_reconnects: Counter
    source_read_failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = REGISTRY) -> ProducerMetrics:
        """Declare the producer metrics on ``registry``."""
        camera = ("camera",)
        return cls(
            frames_submitted=Counter(
                "ferstream_frames_submitted_total",
                "Frames put on the queue.",
                camera,
                registry=registry,
            ),
            submit_failures=Counter(
                "ferstream_submit_failures_total",
                "Frames Redis refused (the producer drops them and carries on).",
                camera,
                registry=registry,
            ),
            source_up=Gauge(
                "ferstream_source_up",
                "1 while the camera's live source delivers frames; 0 from its first "
                "reconnect attempt until a frame arrives again, and once it gave up or closed.",
                camera,
                registry=registry,
            ),
            source_reconnects=Counter(
                "ferstream_source_reconnects_total",
                "Attempts to reopen the camera's live source after it would not open, "
                "dropped, stalled or sent no decodable frame (every attempt, successful or not).",
                camera,
                registry=registry,
            ),
            source_read_failures=Counter(
                "ferstream_source_read_failures_total",
                "Reads from the camera's live source that gave no frame: timed out, "
                "connection closed, or data that does not decode.",
                camera,
                registry=registry,
            ),
        )

    def source_health(self, camera: str) -> SourceHealth:
        """The source metrics of ``camera`` (a valid camera id), all series present at once."""
        check_camera_id(camera)
        health = SourceHealth(
            up=self.source_up.labels(camera=camera),
            reconnects=self.source_reconnects.labels(camera=camera),
            read_failures=self.source_read_failures.labels(camera=camera),
        )
        health.down()
        return health


@dataclass(frozen=True)
class TrackMetrics:
    """What the track service counts and times."""

    cameras: Gauge
    live_tracks: Gauge
    tracks_published: Counter
    late_results: Counter
    unreadable: Counter
    lag: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = REGISTRY) -> TrackMetrics:
        """Declare the track service metrics on ``registry``."""
        camera = ("camera",)
        return cls(
            cameras=Gauge(
                "ferstream_track_cameras",
                "Cameras whose tracks this track service owns (by lease).",
                registry=registry,
            ),
            live_tracks=Gauge(
                "ferstream_live_tracks",
                "Tracks alive on a camera (confirmed or tentative).",
                camera,
                registry=registry,
            ),
            tracks_published=Counter(
                "ferstream_tracks_published_total",
                "Tracks messages published (one per frame of an owned camera).",
                camera,
                registry=registry,
            ),
            late_results=Counter(
                "ferstream_track_late_results_total",
                "Results that arrived after later frames had been tracked (not tracked).",
                camera,
                registry=registry,
            ),
            unreadable=Counter(
                "ferstream_track_unreadable_results_total",
                "Results stream entries the track service could not decode (skipped).",
                camera,
                registry=registry,
            ),
            lag=Histogram(
                "ferstream_track_lag_seconds",
                "Result published (worker clock) to its tracks published (track service).",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )


WEB_STREAMS = ("events", "mjpeg")  # the live view's long-lived responses


@dataclass(frozen=True)
class WebMetrics:
    """What the live view (``ferstream web``) counts: its open streams and its renders."""

    open_streams: Gauge
    streams: Counter
    renders: Counter
    render_seconds: Histogram
    refused: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = REGISTRY) -> WebMetrics:
        """Declare the live view's metrics on ``registry``."""
        kind = ("kind",)
        metrics = cls(
            open_streams=Gauge(
                "ferstream_web_open_streams",
                "Responses the live view is streaming now (events: SSE, mjpeg: frames).",
                kind,
                registry=registry,
            ),
            streams=Counter(
                "ferstream_web_streams_total",
                "Streaming responses the live view has opened.",
                kind,
                registry=registry,
            ),
            renders=Counter(
                "ferstream_web_renders_total",
                "Annotated frames rendered (once per new result of a watched camera).",
                ("camera",),
                registry=registry,
            ),
            render_seconds=Histogram(
                "ferstream_web_render_seconds",
                "Time to draw and encode one annotated frame.",
                buckets=STAGE_BUCKETS,
                registry=registry,
            ),
            refused=Counter(
                "ferstream_web_unauthorized_total",
                "Requests refused for missing or wrong credentials (401).",
                registry=registry,
            ),
        )
        for each in WEB_STREAMS:  # both series exist from the start, at 0
            metrics.open_streams.labels(kind=each)
            metrics.streams.labels(kind=each)
        return metrics


class PoolView(Protocol):
    """What ``BrokerCollector`` reads from a worker pool."""

    @property
    def pids(self) -> list[int]: ...

    @property
    def worker_name_prefix(self) -> str: ...

    restarts: int


class BrokerCollector(Collector):
    """Gauges read on each scrape: queue depth, a pool's busy/idle workers, Redis memory.

    If Redis does not answer, ``ferstream_broker_up`` is 0 and the Redis-derived families
    are left out rather than reported as zeros.
    """

    def __init__(
        self,
        connection: redis.Redis[bytes],
        queue_names: Sequence[str],
        pool: PoolView | None = None,
        key_prefix: str | None = None,
    ) -> None:
        self.connection = connection
        self.queues = [
            Queue(name, connection=connection, serializer=MsgpackSerializer) for name in queue_names
        ]
        self.pool = pool
        self.key_prefix = key_prefix  # given: the age of each camera's oldest stored result

    def collect(self) -> Iterator[Metric]:
        if self.pool is not None:
            yield from self._pool_families(self.pool)
        try:
            families, up = list(self._broker_families()), 1.0
        except (redis.RedisError, OSError):
            families, up = [], 0.0
        yield _gauge("ferstream_broker_up", "1 if Redis answered this scrape.", [((), up)])
        yield from families

    def _broker_families(self) -> Iterator[Metric]:
        depth = [((queue.name,), float(queue.count)) for queue in self.queues]
        used = float(self.connection.info("memory")["used_memory"])
        yield _gauge("ferstream_queue_depth", "Jobs waiting in the queue.", depth, ("queue",))
        yield _gauge("ferstream_redis_memory_used_bytes", "Redis used_memory.", [((), used)])
        oldest = self._oldest_results(self.key_prefix) if self.key_prefix is not None else None
        if oldest is not None:
            yield _gauge(
                "ferstream_oldest_result_age_seconds",
                "Age of the camera's oldest stored result, aggregate or tracks (retention check).",
                oldest,
                ("camera",),
            )
        if self.pool is not None:
            states = self._worker_states(self.pool.worker_name_prefix, set(self.pool.pids))
            samples = [((state,), float(states.get(state, 0))) for state in WORKER_STATES]
            yield _gauge(
                "ferstream_workers",
                "This pool's workers registered in Redis, by state.",
                samples,
                ("state",),
            )

    def _oldest_results(self, prefix: str) -> list[tuple[tuple[str], float]] | None:
        """Per camera with stored results, the age of the oldest (Redis's clock); None if
        this user may not read them (the ACL worker user appends results it cannot read)."""
        try:
            return self._read_oldest_results(prefix)
        except redis.ResponseError:
            return None

    def _read_oldest_results(self, prefix: str) -> list[tuple[tuple[str], float]]:
        members = self.connection.smembers(cameras_set(prefix))
        cameras = sorted(c for c in (m.decode(errors="replace") for m in members) if _valid(c))
        feeds = (results_stream, aggregate_stream, tracks_stream)
        keys = [feed(prefix, camera) for camera in cameras for feed in feeds]
        ages = oldest_entry_ages(self.connection, keys)
        samples = []
        for index, camera in enumerate(cameras):
            found = [age for age in ages[3 * index : 3 * index + 3] if age is not None]
            if found:
                samples.append(((camera,), max(found)))
        return samples

    def _worker_states(self, prefix: str, pids: set[int]) -> dict[str, int]:
        """States of this pool's live workers (a killed one stays registered in Redis)."""
        by_name: dict[str, str] = {}  # a worker on several queues counts once
        for queue in self.queues:
            for worker in Worker.all(connection=self.connection, queue=queue):
                if worker.name.startswith(prefix) and worker.pid in pids:
                    state = worker.get_state()
                    by_name[worker.name] = str(getattr(state, "value", state))
        states: dict[str, int] = {}
        for state in by_name.values():
            state = state if state in WORKER_STATES else "idle"  # "started": no job yet
            states[state] = states.get(state, 0) + 1
        return states

    @staticmethod
    def _pool_families(pool: PoolView) -> Iterator[Metric]:
        yield _gauge(
            "ferstream_worker_processes",
            "Worker processes of this pool now running.",
            [((), float(len(pool.pids)))],
        )
        restarts = CounterMetricFamily(
            "ferstream_worker_restarts", "Worker processes restarted after exiting."
        )
        restarts.add_metric([], float(pool.restarts))
        yield restarts


def _valid(camera: str) -> bool:
    """A camera id fit for a label (the cameras set is written by producers)."""
    try:
        check_camera_id(camera)
    except SchemaError:
        return False
    return True


def _gauge(
    name: str,
    documentation: str,
    samples: Iterable[tuple[Sequence[str], float]],
    labels: Sequence[str] = (),
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def _version_labels() -> tuple[str, ...]:
    return tuple(VERSION_LABELS)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


_worker: WorkerMetrics | None = None
_producer: ProducerMetrics | None = None
_declaring = threading.Lock()  # producer threads may ask for the metrics at the same time


def worker_metrics() -> WorkerMetrics:
    """This process's worker metrics, declared on the default registry on first use."""
    global _worker
    with _declaring:
        if _worker is None:
            _worker = WorkerMetrics.create()
        return _worker


def producer_metrics() -> ProducerMetrics:
    """This process's producer metrics, declared on the default registry on first use."""
    global _producer
    with _declaring:
        if _producer is None:
            _producer = ProducerMetrics.create()
        return _producer


def install_worker_metrics(metrics: WorkerMetrics | None) -> WorkerMetrics | None:
    """Make ``metrics`` the ones jobs record into; returns the previous ones."""
    global _worker
    with _declaring:
        previous, _worker = _worker, metrics
        return previous
