"""``ferstream demo``: the whole pipeline on one machine, with a live console summary.

Embedded Redis (unless REDIS_URL is set), a worker pool, synthetic cameras whose true
faces are known (moving faces by default, ``producer.motion``), the track service in
process (``tracking.service``), and a consumer that scores every published result. The
report ends with the tracks: how many, and how often their labels changed, raw and
smoothed.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from common.accounting import read_counts
from common.defaults import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_FRAME_SIDE
from common.errors import FerStreamError, SourceError
from common.keys import results_stream
from common.metrics import TrackMetrics, producer_metrics
from common.results import TRACKS, follow, read_feed
from common.settings import Settings
from ferstream.local import local_stack
from ferstream.scoring import Scoreboard
from producer.frames import CapturedFrame
from producer.runner import run_producer
from producer.sources import open_source
from producer.submit import FrameSubmitter
from tracking.service import TrackService, TrackServiceConfig

log = logging.getLogger(__name__)

DRAIN_SECONDS = 15.0
PRINT_EVERY = 2.0


@dataclass(frozen=True)
class DemoOptions:
    cameras: int = 2
    duration: float = 30.0
    fps: float = 4.0  # per camera
    source: str | None = None  # default: synthetic scenes from settings.data_dir
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    max_side: int = DEFAULT_MAX_FRAME_SIDE
    report: Path | None = None
    web: bool = True  # the live view (ferstream web) beside it, its URL printed


def run_demo(
    settings: Settings, options: DemoOptions, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the demo and return its final report."""
    try:  # an unusable source or missing data fails here, before Redis and workers start
        open_source(_source_spec(settings, options), data_dir=settings.data_dir).close()
    except SourceError as exc:
        hint = "" if options.source else " (--data-dir or FERSTREAM_DATA_DIR; README: Data)"
        raise SourceError(f"{exc}{hint}") from exc
    with local_stack(settings, settings.concurrency, say) as local, ExitStack() as stack:
        if options.web:
            _start_web(stack, local.settings, say)
        report = _run_cameras(local.connection, local.settings, options, say)
    if options.report:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(json.dumps(report, indent=2))
    return report


def _start_web(stack: ExitStack, settings: Settings, say: Callable[[str], None]) -> None:
    """The live view in this process, on the embedded Redis; a taken port only warns."""
    from web.server import background

    try:
        service = stack.enter_context(background(settings))
    except FerStreamError as exc:
        say(f"no live view: {exc}")
        return
    say(f"live view: open {service.url} in a browser (--no-web: off)")


def _run_cameras(
    connection: redis.Redis[bytes],
    settings: Settings,
    options: DemoOptions,
    say: Callable[[str], None],
) -> dict[str, Any]:
    cameras = [f"cam{i}" for i in range(options.cameras)]
    board = Scoreboard()
    start_ids = {c: _last_result_id(connection, settings, c) for c in cameras}
    spec = _source_spec(settings, options)
    stop = threading.Event()  # set on the way out, Ctrl-C included, to end the producers
    tracking = _start_tracks(connection, settings, cameras, stop)
    threads = [
        threading.Thread(
            target=_produce,
            args=(connection, settings, options, spec, c, i, board, stop),
            name=f"producer-{c}",
            daemon=True,
        )
        for i, c in enumerate(cameras)
    ]
    for thread in threads:
        thread.start()
    say(f"{len(cameras)} camera(s) at {options.fps:g} fps for {options.duration:g}s from {spec}")
    try:
        _consume(connection, settings, cameras, start_ids, threads, board, say)
        time.sleep(settings.track_reorder_wait + 0.5)  # the last results reach the tracks
    finally:
        stop.set()
        tracking.join(timeout=5.0)
    counts = {c: read_counts(connection, settings.key_prefix, c) for c in cameras}
    report = {
        **board.summary(),
        "workers": settings.concurrency,
        "cameras": {c: vars(v) for c, v in counts.items()},
        "tracks": track_summary(connection, settings, cameras),
    }
    say(format_report(report))
    return report


def _source_spec(settings: Settings, options: DemoOptions) -> str:
    return options.source or f"motion:{settings.data_dir}"


def _start_tracks(
    connection: redis.Redis[bytes], settings: Settings, cameras: list[str], stop: threading.Event
) -> threading.Thread:
    service = TrackService(
        connection,
        TrackServiceConfig.from_settings(settings, tuple(cameras)),
        TrackMetrics.create(CollectorRegistry()),
    )
    thread = threading.Thread(target=service.run, args=(stop,), name="tracks", daemon=True)
    thread.start()
    return thread


def track_summary(
    connection: redis.Redis[bytes], settings: Settings, cameras: list[str]
) -> dict[str, Any]:
    """Tracks published for ``cameras``, and label changes per track-second, raw and shown."""
    history: dict[str, list[tuple[float, int, int]]] = {}
    for camera in cameras:
        for _, message in read_feed(connection, TRACKS, settings.key_prefix, camera):
            for t in message.tracks:
                if t.raw is not None:
                    raw = max(range(len(t.raw)), key=t.raw.__getitem__)
                    shown = -1 if t.label is None else t.label
                    history.setdefault(t.track_id, []).append((t.last_seen, raw, shown))
    seconds = sum(points[-1][0] - points[0][0] for points in history.values())
    raw = sum(a[1] != b[1] for p in history.values() for a, b in itertools.pairwise(p))
    shown = sum(a[2] != b[2] for p in history.values() for a, b in itertools.pairwise(p))
    return {
        "tracks": len(history),
        "track_seconds": round(seconds, 1),
        "raw_changes_per_track_second": round(raw / seconds, 2) if seconds else None,
        "smoothed_changes_per_track_second": round(shown / seconds, 2) if seconds else None,
    }


def _produce(
    connection: redis.Redis[bytes],
    settings: Settings,
    options: DemoOptions,
    spec: str,
    camera_id: str,
    seed: int,
    board: Scoreboard,
    stop: threading.Event,
) -> None:
    def remember(frame_number: int, _job_id: str, captured: CapturedFrame) -> None:
        board.record_truth(camera_id, frame_number, list(captured.metadata.get("faces", [])))

    try:
        with open_source(
            spec,
            loop=True,
            data_dir=settings.data_dir,
            seed=seed,
            reconnect_attempts=settings.reconnect_attempts,
            timeout=settings.stream_timeout,
            health=producer_metrics().source_health(camera_id),
        ) as source:
            run_producer(
                source,
                FrameSubmitter(connection, settings),
                camera_id,
                target_fps=options.fps,
                jpeg_quality=options.jpeg_quality,
                max_side=options.max_side,
                duration=options.duration,
                stop=stop,
                on_submit=remember,
            )
    except FerStreamError as exc:
        log.error("camera %s stopped: %s", camera_id, exc)


def _consume(
    connection: redis.Redis[bytes],
    settings: Settings,
    cameras: list[str],
    start_ids: dict[str, bytes],
    producers: list[threading.Thread],
    board: Scoreboard,
    say: Callable[[str], None],
) -> None:
    last_print = time.monotonic()
    drain_deadline: float | None = None
    for item in follow(connection, settings.key_prefix, cameras, start_ids, block_ms=500):
        if item is not None:
            board.add(item[1])
        now = time.monotonic()
        if now - last_print >= PRINT_EVERY:
            say(format_live(board.summary(), _pending(connection, settings)))
            last_print = now
        if any(t.is_alive() for t in producers):
            continue
        drain_deadline = drain_deadline or now + DRAIN_SECONDS
        settled = all(_settled(connection, settings, c) for c in cameras)
        if settled or now > drain_deadline:
            return


def _last_result_id(connection: redis.Redis[bytes], settings: Settings, camera_id: str) -> bytes:
    """Where a camera's result stream ends now, so the demo reads exactly its own results."""
    newest = connection.xrevrange(results_stream(settings.key_prefix, camera_id), count=1)
    return bytes(newest[0][0]) if newest else b"0-0"


def _pending(connection: redis.Redis[bytes], settings: Settings) -> int:
    return int(connection.llen(f"rq:queue:{settings.queue_name}"))


def _settled(connection: redis.Redis[bytes], settings: Settings, camera_id: str) -> bool:
    counts = read_counts(connection, settings.key_prefix, camera_id)
    return counts.settled >= counts.submitted


def format_live(summary: dict[str, Any], pending: int) -> str:
    top = sorted(summary["emotions"].items(), key=lambda kv: -kv[1])[:3]
    recall = "-" if summary["face_recall"] is None else summary["face_recall"]
    accuracy = "-" if summary["label_accuracy"] is None else summary["label_accuracy"]
    latency = summary["latency_ms"]
    return (
        f"[{summary['elapsed_s']:6.1f}s] {summary['frames_per_s']:5.2f} frames/s "
        f"{summary['faces_per_s']:5.2f} faces/s | latency p50 {latency['p50']:.0f} ms "
        f"p95 {latency['p95']:.0f} ms | queue {pending} | recall {recall} acc {accuracy}"
        f" | {', '.join(f'{k} {v}' for k, v in top)}"
    )


def format_report(report: dict[str, Any]) -> str:
    lines = [
        "",
        "== ferstream demo report ==",
        f"workers {report['workers']}, {report['elapsed_s']}s, {report['frames']} frames, "
        f"{report['faces']} faces",
        f"throughput {report['frames_per_s']} frames/s, {report['faces_per_s']} faces/s",
        "end-to-end latency ms: " + ", ".join(f"{k} {v}" for k, v in report["latency_ms"].items()),
        "stage medians ms: " + ", ".join(f"{k} {v}" for k, v in report["stage_ms_median"].items()),
        f"face recall {report['face_recall']}, label accuracy {report['label_accuracy']}",
        "emotions: " + ", ".join(f"{k} {v}" for k, v in report["emotions"].items()),
    ]
    for camera, counts in report["cameras"].items():
        lines.append(
            f"{camera}: submitted {counts['submitted']}, processed {counts['processed']}, "
            f"dropped {counts['dropped'] or 0}, failed {counts['failed'] or 0}"
        )
    tracks = report.get("tracks")
    if tracks:
        lines.append(
            f"tracks {tracks['tracks']} over {tracks['track_seconds']} track-seconds; label "
            f"changes per track-second: raw {tracks['raw_changes_per_track_second']}, "
            f"smoothed {tracks['smoothed_changes_per_track_second']}"
        )
    return "\n".join(lines)
