"""The ``ferstream`` command: thin click wrappers over the packages' functions."""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from common import defaults
from common.errors import FerStreamError
from common.settings import Settings

DATA_HELP = "FER2013-style class-folder tree (env FERSTREAM_DATA_DIR; default data/fer2013)"


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="log at INFO level")
def main(verbose: bool) -> None:
    """Real-time facial-expression recognition on camera streams (Redis + RQ workers)."""
    _setup_logging(verbose)


def run() -> None:
    """Entry point: turns the project's errors into a one-line message and exit code 2."""
    try:
        main(standalone_mode=True)
    except FerStreamError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.option(
    "--concurrency",
    "-c",
    type=int,
    default=None,
    envvar="FERSTREAM_CONCURRENCY",
    help="worker processes on this host (default 1)",
)
@click.option("--burst", is_flag=True, help="exit when the queue is empty")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Prometheus endpoint of the whole pool (env FERSTREAM_METRICS_PORT; default 9100; 0: off)",
)
def worker(concurrency: int | None, burst: bool, metrics_port: int | None) -> None:
    """Run a pool of worker processes serving the frame queue (needs REDIS_URL)."""
    from worker.exporter import monitored_pool

    settings = _settings(concurrency=concurrency, metrics_port=metrics_port)
    if not settings.redis_url:
        raise FerStreamError("expected REDIS_URL to name the Redis server workers serve, got none")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with monitored_pool(settings, burst=burst) as pool:
        try:
            pool.supervise(stop)
        except KeyboardInterrupt:
            click.echo("stopping workers ...", err=True)


@main.command()
@click.option("--camera-id", required=True, help="camera name: letters, digits, _ . -")
@click.option(
    "--source",
    required=True,
    envvar="FERSTREAM_SOURCE",
    help="webcam index, video file, rtsp/http URL, image folder, or scenes:PATH "
    "(env FERSTREAM_SOURCE: a URL with a password belongs there, not in argv)",
)
@click.option(
    "--fps",
    type=float,
    default=defaults.DEFAULT_TARGET_FPS,
    show_default=True,
    help="target frames/s",
)
@click.option("--jpeg-quality", type=int, default=defaults.DEFAULT_JPEG_QUALITY, show_default=True)
@click.option(
    "--max-side",
    type=int,
    default=defaults.DEFAULT_MAX_FRAME_SIDE,
    show_default=True,
    help="downscale frames so the longer side is at most this",
)
@click.option("--loop", is_flag=True, help="restart a file or folder at its end")
@click.option("--max-frames", type=int, default=None)
@click.option("--duration", type=float, default=None, help="seconds")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="serve Prometheus metrics on this port (env FERSTREAM_PRODUCER_METRICS_PORT; 0: off)",
)
@click.option(
    "--reconnect-attempts",
    type=int,
    default=None,
    help="reopen a failed live stream this many times, then exit "
    "(env FERSTREAM_RECONNECT_ATTEMPTS; default 8)",
)
@click.option(
    "--stream-timeout",
    type=float,
    default=None,
    help="seconds to wait for a live stream to open or send a frame "
    "(env FERSTREAM_STREAM_TIMEOUT; default 5)",
)
def produce(
    camera_id: str,
    source: str,
    fps: float,
    jpeg_quality: int,
    max_side: int,
    loop: bool,
    max_frames: int | None,
    duration: float | None,
    metrics_port: int | None,
    reconnect_attempts: int | None,
    stream_timeout: float | None,
) -> None:
    """Capture frames from SOURCE and submit them to the frame queue."""
    from common.connection import connect_as
    from common.metrics import producer_metrics
    from common.metrics_server import serve_producer_metrics
    from producer.runner import run_producer
    from producer.sources import open_source
    from producer.submit import FrameSubmitter

    settings = _settings(
        producer_metrics_port=metrics_port,
        reconnect_attempts=reconnect_attempts,
        stream_timeout=stream_timeout,
    )
    if not settings.redis_url:
        raise FerStreamError("expected REDIS_URL to name the Redis server to submit to, got none")
    health = producer_metrics().source_health(camera_id)  # refuses a bad camera id first
    connection = connect_as(settings)
    serve_producer_metrics(settings)
    with open_source(
        source,
        loop=loop,
        data_dir=settings.data_dir,
        reconnect_attempts=settings.reconnect_attempts,
        timeout=settings.stream_timeout,
        health=health,
    ) as frames:
        stats = run_producer(
            frames,
            FrameSubmitter(connection, settings),
            camera_id,
            target_fps=fps,
            jpeg_quality=jpeg_quality,
            max_side=max_side,
            max_frames=max_frames,
            duration=duration,
        )
    click.echo(
        f"submitted {stats.frames_submitted} frames ({stats.frames_failed} failed) "
        f"in {stats.elapsed_seconds:.1f}s",
        err=True,
    )


@main.command()
@click.option("--camera", "camera_id", required=True)
@click.option("--follow", is_flag=True, help="keep printing new ones")
@click.option("--count", type=int, default=None, help="only the last N stored")
@click.option("--tracks", is_flag=True, help="the camera's tracks (ferstream track), not results")
@click.option(
    "--aggregates", is_flag=True, help="stored emotion counts per window (results mode aggregate)"
)
def results(
    camera_id: str, follow: bool, count: int | None, tracks: bool, aggregates: bool
) -> None:
    """Print a camera's results (or tracks) as JSON lines: stored, then live with --follow."""
    from common.connection import connect_as
    from common.results import RESULTS, TRACKS, follow_feed, read_aggregates, read_feed

    settings = _settings()
    if not settings.redis_url:
        raise FerStreamError("expected REDIS_URL to name the Redis server to read, got none")
    connection = connect_as(settings)
    if aggregates:
        for _entry_id, aggregate in read_aggregates(connection, settings.key_prefix, camera_id):
            click.echo(json.dumps(aggregate.to_json_dict()))
        return
    feed: Any = TRACKS if tracks else RESULTS
    last = b"0-0"
    for entry_id, message in read_feed(connection, feed, settings.key_prefix, camera_id, count):
        click.echo(json.dumps(message.to_json_dict()))
        last = entry_id
    if not follow:
        return
    live = follow_feed(
        connection, feed, settings.key_prefix, [camera_id], {camera_id: last}, reconnect=True
    )
    try:
        for item in live:
            if item is not None:
                click.echo(json.dumps(item[1].to_json_dict()))
    except KeyboardInterrupt:
        pass


@main.command()
@click.option(
    "--camera",
    "cameras",
    multiple=True,
    help="track only these cameras (repeat; default: every camera, shared between replicas)",
)
@click.option(
    "--metrics-port",
    type=int,
    default=9102,
    show_default=True,
    help="Prometheus endpoint of this track service (0: off)",
)
def track(cameras: tuple[str, ...], metrics_port: int) -> None:
    """Turn cameras' results into per-face tracks with smoothed emotions (needs REDIS_URL)."""
    from prometheus_client import REGISTRY

    from common.connection import connect_as
    from common.metrics import TrackMetrics
    from common.metrics_server import serve_metrics
    from tracking.service import TrackService, TrackServiceConfig

    settings = _settings()
    if not settings.redis_url:
        raise FerStreamError("expected REDIS_URL to name the Redis server to track, got none")
    metrics = TrackMetrics.create()
    if metrics_port:
        serve_metrics(REGISTRY, metrics_port, settings.metrics_addr)
    service = TrackService(
        connect_as(settings), TrackServiceConfig.from_settings(settings, cameras), metrics
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"track service {service.owner}: tracking {', '.join(cameras) or 'every camera'}")
    try:
        service.run(stop)
    except KeyboardInterrupt:
        click.echo("stopping the track service ...", err=True)


@main.command()
@click.option("--host", default=None, help="bind address (env FERSTREAM_WEB_HOST; 127.0.0.1)")
@click.option("--port", type=int, default=None, help="TCP port (env FERSTREAM_WEB_PORT; 8090)")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Prometheus endpoint without credentials, on FERSTREAM_METRICS_ADDR "
    "(env FERSTREAM_WEB_METRICS_PORT; 0: off, the default)",
)
def web(host: str | None, port: int | None, metrics_port: int | None) -> None:
    """The live view: every camera's annotated frame, figures and timeline (needs
    REDIS_URL). Beyond 127.0.0.1 it needs FERSTREAM_WEB_TOKEN(_FILE) or
    FERSTREAM_WEB_CREDENTIALS_FILE; never pass a credential as an option."""
    from web.server import serve

    settings = _settings(web_host=host, web_port=port, web_metrics_port=metrics_port)
    if not settings.redis_url:
        raise FerStreamError("expected REDIS_URL to name the Redis server to watch, got none")
    try:
        serve(settings, say=click.echo)
    except KeyboardInterrupt:
        click.echo("stopping the live view ...", err=True)


@main.command()
@click.option(
    "--format",
    "form",
    type=click.Choice(["setuser", "file"]),
    default="setuser",
    show_default=True,
    help="setuser: ACL SETUSER commands for redis-cli; file: user lines for an aclfile",
)
@click.option(
    "--passwords-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="read each password from DIR/producer, DIR/worker, DIR/tracker, DIR/reader, "
    "DIR/web (default: env PRODUCER_, WORKER_, TRACKER_, READER_ and WEB_REDIS_PASSWORD)",
)
def acl(form: str, passwords_dir: Path | None) -> None:
    """Print the Redis ACL users producer, worker, tracker, reader and web (passwords hashed)."""
    import os

    from common.acl import acl_file, read_passwords, setuser_lines

    passwords = read_passwords(os.environ, passwords_dir)
    render = setuser_lines if form == "setuser" else acl_file
    for line in render(_settings(), passwords):
        click.echo(line)


@main.command()
@click.option("--workers", type=int, default=2, show_default=True, help="worker processes")
@click.option("--cameras", type=int, default=2, show_default=True, help="synthetic cameras")
@click.option("--duration", type=float, default=30.0, show_default=True, help="seconds")
@click.option("--fps", type=float, default=4.0, show_default=True, help="frames/s per camera")
@click.option("--source", default=None, help="instead of synthetic scenes: webcam index, file, URL")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="write the final report as JSON here",
)
@click.option(
    "--web/--no-web",
    default=True,
    show_default=True,
    help="the live view in the browser (its URL is printed; FERSTREAM_WEB_PORT)",
)
def demo(
    workers: int,
    cameras: int,
    duration: float,
    fps: float,
    source: str | None,
    data_dir: Path | None,
    report: Path | None,
    web: bool,
) -> None:
    """The whole pipeline locally: embedded Redis, workers, cameras, live figures, and
    the live view in a browser."""
    from ferstream.demo import DemoOptions, run_demo

    settings = _settings(concurrency=workers, data_dir=data_dir)
    options = DemoOptions(
        cameras=cameras, duration=duration, fps=fps, source=source, report=report, web=web
    )
    try:
        run_demo(settings, options, say=click.echo)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="annotated .mp4")
@click.option(
    "--csv",
    "table",
    type=click.Path(path_type=Path),
    default=None,
    help="per-frame emotions (.csv, or .jsonl)",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    help="local worker processes to start (0: use the workers already on REDIS_URL)",
)
@click.option(
    "--blur",
    type=click.Choice(["off", "blur", "pixelate"]),
    default=None,
    help="hide each face under its label (env FERSTREAM_BLUR_FACES; privacy strict: blur)",
)
def analyze(video: Path, out: Path, table: Path | None, workers: int, blur: str | None) -> None:
    """Run every frame of VIDEO through the queue and workers; write an annotated video."""
    from ferstream.analyze import AnalyzeOptions, analyze_video
    from ferstream.local import local_stack

    say = functools.partial(click.echo, err=True)
    settings = _settings(blur_faces=blur)
    with local_stack(settings, workers, say) as local:
        options = AnalyzeOptions(video=video, out=out, table=table, blur=settings.blur_mode)
        with click.progressbar(length=_frame_count(video), label="frames") as bar:
            found = analyze_video(local.connection, local.settings, options, progress=bar.update)
    faces = sum(len(r.faces) for r in found.values())
    click.echo(
        f"{len(found)} frames analysed, {faces} faces; wrote {out}"
        + (f" and {table}" if table else ""),
        err=True,
    )


def _frame_count(video: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(video))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return max(count, 1)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


@main.command("bench-web")
@click.option("--cameras", type=int, default=20, show_default=True)
@click.option("--fps", type=float, default=4.2, show_default=True, help="per camera")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--grid-viewers", type=int, default=4, show_default=True)
@click.option("--page-viewers", type=int, default=1, show_default=True)
@click.option("--churn-viewers", type=int, default=20, show_default=True)
@click.option(
    "--window", type=float, default=60.0, show_default=True, help="seconds per CPU window"
)
@click.option("--churn-seconds", type=float, default=600.0, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("docs/bench-web"), show_default=True
)
def bench_web(
    cameras: int,
    fps: float,
    workers: int,
    grid_viewers: int,
    page_viewers: int,
    churn_viewers: int,
    window: float,
    churn_seconds: float,
    data_dir: Path | None,
    out: Path,
) -> None:
    """The live view's CPU, frame-to-page latency and memory under viewer churn."""
    from ferstream.bench.web_bench import WebBenchOptions, run_web_bench
    from ferstream.bench.web_report import markdown, write_report

    options = WebBenchOptions(
        cameras=cameras,
        fps=fps,
        workers=workers,
        grid_viewers=grid_viewers,
        page_viewers=page_viewers,
        churn_viewers=churn_viewers,
        window_seconds=window,
        churn_seconds=churn_seconds,
        out=out,
    )
    result = run_web_bench(_settings(data_dir=data_dir), options, say=click.echo)
    md_path, json_path = write_report(result, out)
    click.echo(markdown(result))
    click.echo(f"wrote {md_path} and {json_path}")


@main.command("bench-scale")
@click.option("--frames", type=int, default=400, show_default=True, help="per scaling round")
@click.option("--rounds", type=int, default=8, show_default=True, help="per layout")
@click.option("--failovers", type=int, default=3, show_default=True, help="Sentinel failovers")
@click.option("--note", default="", help="the conditions of the run, for the report")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("docs/bench-scale"), show_default=True
)
def bench_scale(
    frames: int, rounds: int, failovers: int, note: str, data_dir: Path | None, out: Path
) -> None:
    """Two namespaced hosts against one (needs root), and Sentinel failovers under load."""
    from ferstream.bench.scale_report import ScaleBenchOptions, run_scale_bench

    options = ScaleBenchOptions(
        data_dir=_settings(data_dir=data_dir).data_dir,
        out=out,
        frames=frames,
        rounds=rounds,
        failovers=failovers,
        note=note,
    )
    click.echo(f"report: {run_scale_bench(options, say=click.echo)}")


@main.command("bench-tracks")
@click.option("--seconds", type=float, default=60.0, show_default=True, help="per sequence")
@click.option("--rates", default="5,25", show_default=True, help="frames/s of the sequences")
@click.option("--actors", type=int, default=2, show_default=True, help="faces per sequence")
@click.option(
    "--seeds", default="0,1,2", show_default=True, help="one moving scene each, scored together"
)
@click.option(
    "--real-dir",
    type=click.Path(path_type=Path),
    default=Path("../shared/data/real"),
    show_default=True,
    help="folder of the real clips (single_face.mp4, noface_face.mov)",
)
@click.option(
    "--load-seconds",
    type=float,
    default=60.0,
    show_default=True,
    help="the track stage beside the pool at 200%% load (0: skip)",
)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/bench-tracks"),
    show_default=True,
)
def bench_tracks(
    seconds: float,
    rates: str,
    actors: int,
    seeds: str,
    real_dir: Path,
    load_seconds: float,
    data_dir: Path | None,
    out: Path,
) -> None:
    """Tracks on moving sequences and real clips: identity, flicker, lag, guided speed."""
    from ferstream.bench.track_report import TrackBenchOptions, run_track_bench

    options = TrackBenchOptions(
        seconds=seconds,
        rates=_floats(rates),
        actors=actors,
        seeds=_ints(seeds),
        real_dir=real_dir,
        load_seconds=load_seconds,
        out=out,
    )
    run_track_bench(_settings(data_dir=data_dir), options, say=click.echo)


@main.command("bench-detect")
@click.option("--scenes", type=int, default=150, show_default=True, help="labelled scenes")
@click.option(
    "--cascades",
    default="haarcascade_frontalface_default.xml,haarcascade_frontalface_alt2.xml",
    show_default=True,
    help="files in cv2.data.haarcascades, or paths",
)
@click.option("--scale-factors", default="1.1,1.2,1.3", show_default=True)
@click.option("--min-neighbors", default="1,2,3,5", show_default=True)
@click.option("--min-sizes", default="60", show_default=True, help="min face side, px")
@click.option("--downscales", default="1.0,0.5,0.35", show_default=True)
@click.option("--budget-ms", type=float, default=10.0, show_default=True, help="for the pick")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/bench-detect"),
    show_default=True,
)
def bench_detect(
    scenes: int,
    cascades: str,
    scale_factors: str,
    min_neighbors: str,
    min_sizes: str,
    downscales: str,
    budget_ms: float,
    seed: int,
    data_dir: Path | None,
    out: Path,
) -> None:
    """Haar face recall against milliseconds per frame, over a grid of detector settings."""
    from ferstream.bench.detect import DetectGrid
    from ferstream.bench.detect_report import DetectBenchOptions, run_detect_bench

    grid = DetectGrid(
        tuple(c.strip() for c in cascades.split(",") if c.strip()),
        _floats(scale_factors),
        _ints(min_neighbors),
        _ints(min_sizes),
        _floats(downscales),
    )
    options = DetectBenchOptions(scenes=scenes, seed=seed, grid=grid, budget_ms=budget_ms, out=out)
    run_detect_bench(_settings(data_dir=data_dir), options, say=click.echo)


@main.command()
@click.option("--quick", is_flag=True, help="~5 s per run: a smoke run, not a measurement")
@click.option("--workers", default="1,2", show_default=True, help="pool sizes to saturate")
@click.option("--loads", default="25,50,75,100,150,200", show_default=True, help="% of saturation")
@click.option("--duration", type=float, default=None, help="seconds per load [20; quick 5]")
@click.option(
    "--overload-duration",
    type=float,
    default=None,
    help="seconds at the highest load [long enough to judge Redis memory; quick: --duration]",
)
@click.option("--saturation-seconds", type=float, default=None, help="[15; quick 5]")
@click.option("--reference-seconds", type=float, default=None, help="[15; quick 5]")
@click.option("--no-references", is_flag=True, help="skip the references (notebook, fer, floor)")
@click.option("--scenes", type=int, default=None, help="distinct labelled scenes [120; quick 40]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("reports/bench"), show_default=True
)
def bench(
    quick: bool,
    workers: str,
    loads: str,
    duration: float | None,
    overload_duration: float | None,
    saturation_seconds: float | None,
    reference_seconds: float | None,
    no_references: bool,
    scenes: int | None,
    data_dir: Path | None,
    out: Path,
) -> None:
    """The real stack under offered load, against the notebook loop, `fer` and the floor."""
    from ferstream.bench.suite import BenchOptions, run_bench

    options = BenchOptions.preset(
        quick,
        workers=_ints(workers),
        loads=_ints(loads),
        duration=duration,
        overload_duration=overload_duration,
        saturation_seconds=saturation_seconds,
        reference_seconds=reference_seconds,
        references=not no_references,
        scenes=scenes,
        out=out,
    )
    run_bench(_settings(data_dir=data_dir), options, say=click.echo)


@main.command()
@click.option("--minutes", type=float, default=30.0, show_default=True, help="of offered load")
@click.option("--sample-seconds", type=float, default=10.0, show_default=True)
@click.option(
    "--fps",
    type=float,
    default=None,
    help="frames/s offered in all [80% of the saturation, measured first]",
)
@click.option("--workers", type=int, default=2, show_default=True, help="worker processes")
@click.option("--cameras", type=int, default=2, show_default=True, help="synthetic cameras")
@click.option("--bad-every", type=int, default=100, show_default=True, help="one bad frame in N")
@click.option("--saturation-seconds", type=float, default=10.0, show_default=True)
@click.option("--scenes", type=int, default=60, show_default=True, help="distinct labelled scenes")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("reports/soak"), show_default=True
)
def soak(
    minutes: float,
    sample_seconds: float,
    fps: float | None,
    workers: int,
    cameras: int,
    bad_every: int,
    saturation_seconds: float,
    scenes: int,
    data_dir: Path | None,
    out: Path,
) -> None:
    """The stack at 80% of its saturation for a long while, bad frames mixed in: memory,
    descriptors and p99 over time, and every frame accounted for."""
    from ferstream.soak.run import SoakOptions, run_soak

    options = SoakOptions(
        minutes=minutes,
        sample_seconds=sample_seconds,
        fps=fps,
        workers=workers,
        cameras=cameras,
        bad_every=bad_every,
        saturation_seconds=saturation_seconds,
        scenes=scenes,
        out=out,
    )
    run_soak(_settings(data_dir=data_dir), options, say=click.echo)


@main.command()
@click.option("--examples", type=int, default=500, show_default=True, help="inputs per target")
@click.option("--seed", type=int, default=None, help="the same inputs again (default: new ones)")
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("reports/fuzz"), show_default=True
)
def fuzz(examples: int, seed: int | None, out: Path) -> None:
    """Hostile inputs against the wire decoders, the image checks and a real worker
    (on an embedded Redis); exit code 1 if any finding (needs the dev extras)."""
    try:
        from ferstream.fuzz.campaign import run_campaign
        from ferstream.fuzz.report import report_markdown, write_report
    except ModuleNotFoundError as exc:  # Hypothesis: a dev dependency
        raise FerStreamError(
            f"ferstream fuzz needs the dev extras (pip install -e '.[dev]'): {exc}"
        ) from exc

    report = run_campaign(_settings(), examples, seed, say=click.echo)
    click.echo(report_markdown(report))
    for path in write_report(report, out):
        click.echo(f"wrote {path}")
    if not report.clean:
        sys.exit(1)


MODEL_OPTION = click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="default: the shipped model",
)


def _strides(text: str) -> tuple[int, int, int, int, int]:
    values = tuple(int(c) if c in "12" else 0 for c in text)
    if len(values) != 5 or any(v not in (1, 2) for v in values):
        raise click.BadParameter(f"expected five digits of 1 or 2, e.g. 22221, got {text!r}")
    return values


@main.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="FER2013 folder (train/, test/) or fer2013.csv",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="run folder")
@click.option("--alpha", type=float, default=1.0, show_default=True, help="MobileNetV2 width")
@click.option(
    "--input-size",
    type=int,
    default=48,
    show_default=True,
    help="backbone resolution (faces are resized from 48x48 inside the model)",
)
@click.option(
    "--downsample",
    default="22221",
    show_default=True,
    help="strides at the stem and the 24/32/64/160-channel stages (stock MobileNetV2: 22222)",
)
@click.option("--epochs", type=int, default=60, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]), default="sgd", show_default=True)
@click.option("--learning-rate", type=float, default=0.05, show_default=True, help="peak rate")
@click.option("--warmup-epochs", type=float, default=2.0, show_default=True)
@click.option("--weight-decay", type=float, default=5e-4, show_default=True)
@click.option("--label-smoothing", type=float, default=0.1, show_default=True)
@click.option(
    "--init-from",
    type=click.Path(path_type=Path),
    default=None,
    help="start from this model's weights (a warm restart)",
)
@click.option("--train-faces", type=int, default=None, help="a stratified subset (searches)")
@click.option("--brightness", type=float, default=0.2, show_default=True, help="+- of 255")
@click.option("--erase-prob", type=float, default=0.4, show_default=True)
@click.option("--mixup-prob", type=float, default=0.0, show_default=True)
@click.option(
    "--cycle-epochs",
    type=int,
    default=None,
    help="restart the cosine this often and average the weights at each cycle's end (SWA)",
)
@click.option(
    "--teacher",
    "teachers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="distil from this model's ten-crop distributions (repeat for an ensemble)",
)
@click.option(
    "--distill-weight", type=float, default=0.5, show_default=True, help="the teachers' share"
)
@click.option("--distill-temperature", type=float, default=2.0, show_default=True)
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--mixed-precision", is_flag=True, help="bfloat16 compute (GPU)")
@click.option("--resume", is_flag=True, help="continue from OUT/checkpoint.keras")
def train(
    data: Path,
    out: Path,
    alpha: float,
    input_size: int,
    downsample: str,
    epochs: int,
    batch_size: int,
    optimizer: str,
    learning_rate: float,
    warmup_epochs: float,
    weight_decay: float,
    label_smoothing: float,
    init_from: Path | None,
    train_faces: int | None,
    brightness: float,
    erase_prob: float,
    mixup_prob: float,
    cycle_epochs: int | None,
    teachers: tuple[Path, ...],
    distill_weight: float,
    distill_temperature: float,
    seed: int,
    mixed_precision: bool,
    resume: bool,
) -> None:
    """Train the MobileNetV2 emotion model (a checkpoint every epoch, --resume to go on)."""
    from training.augment import AugmentConfig
    from training.model import ModelConfig
    from training.train import TrainConfig
    from training.train import train as train_model

    config = TrainConfig(
        data=data,
        out_dir=out,
        model=ModelConfig(input_size=input_size, alpha=alpha, downsample=_strides(downsample)),
        augment=AugmentConfig(brightness=brightness, erase_prob=erase_prob, mixup_prob=mixup_prob),
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        learning_rate=learning_rate,
        warmup_epochs=warmup_epochs,
        weight_decay=weight_decay,
        label_smoothing=label_smoothing,
        init_from=init_from,
        train_faces=train_faces,
        seed=seed,
        mixed_precision=mixed_precision,
        cycle_epochs=cycle_epochs,
        teachers=teachers,
        distill_weight=distill_weight,
        distill_temperature=distill_temperature,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    click.echo(f"model written to {train_model(config, resume=resume)}")


@main.command()
@MODEL_OPTION
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="FER2013 folder or fer2013.csv"
)
@click.option("--split", default="test", show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("reports/evaluation"), show_default=True
)
@click.option(
    "--runtime",
    type=click.Choice(["litert", "keras"]),
    default="litert",
    show_default=True,
    help="litert: the worker's path; keras: the Keras model itself",
)
def evaluate(model_path: Path | None, data: Path, split: str, out: Path, runtime: str) -> None:
    """Accuracy, macro-F1, per-class figures and confusion matrices, plain and with TTA."""
    from training.evaluate import evaluate as evaluate_model

    logging.getLogger().setLevel(logging.INFO)
    settings = _settings()
    report = evaluate_model(
        model_path or settings.model_path,
        data,
        split,
        out,
        runtime=runtime,
        cache_dir=settings.cache_dir,
    )
    click.echo(json.dumps(report, indent=2, default=str))


@main.command()
@MODEL_OPTION
def export(model_path: Path | None) -> None:
    """Convert the model for LiteRT into the workers' cache (workers do it when it is missing)."""
    from worker.model_file import serving_model

    settings = _settings()
    served = serving_model(model_path or settings.model_path, settings.cache_dir)
    click.echo(f"{served.model_id}: {served.path}")


if __name__ == "__main__":
    run()
