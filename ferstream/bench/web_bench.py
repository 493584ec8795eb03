"""``ferstream bench-web``: what the live view costs and how fast it is, on a real stack.

A 2-worker pool serves synthetic cameras (``ferstream.cameras.recorded_cameras``: each
camera's few seconds of moving faces drawn once, then sent in a loop) on a Redis of the
run's own. Three phases, each measured over its own window:

1. **baseline**: the cameras and workers alone; the workers' load (their CPU seconds
   over their capacity) and Redis's CPU.
2. **served**: ``ferstream web`` (its own process: app and renderer) with viewers (in a
   process of their own, as browsers are), by default 4 on the grid and 1 on a camera
   page (5 viewers of 20 cameras). The CPU it
   adds: the web process's CPU seconds plus Redis's increase over the baseline, as a
   share of the host's capacity (cores x window); and frame-to-page latency: an MJPEG
   part's arrival minus its result's publication (and the same for SSE events).
3. **churn**: 20 viewers each opening a camera page, staying 1-4 s and leaving, over
   and over; the web process's resident memory sampled every second, and its open
   streams at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from common.accounting import read_counts
from common.connection import connect_as
from common.errors import FerStreamError
from common.settings import Settings
from ferstream.bench.stack import broker, running_pool
from ferstream.bench.watch import cpu_seconds, local_redis_pid, rss_bytes
from ferstream.bench.web_viewers import Seen, in_own_process
from ferstream.cameras import recorded_cameras

MIB = 1024 * 1024
START_SECONDS = 60.0


@dataclass(frozen=True)
class WebBenchOptions:
    cameras: int = 20
    fps: float = 4.2  # per camera: about half of two workers' capacity
    workers: int = 2
    grid_viewers: int = 4
    page_viewers: int = 1
    churn_viewers: int = 20
    warmup_seconds: float = 15.0
    window_seconds: float = 60.0
    churn_seconds: float = 120.0
    out: Path = Path("docs/bench-web")


@dataclass
class Window:
    """CPU seconds of the processes that matter over one window."""

    seconds: float
    workers: float
    redis: float
    web: float = 0.0
    host_busy: float = 0.0  # every process on the host, from /proc/stat
    results: int = 0  # frames processed over the window


@dataclass
class WebBenchResult:
    options: dict[str, Any]
    host: dict[str, Any]
    baseline: Window
    served: Window
    seen: dict[str, Any]
    frame_latency_ms: dict[str, float | None]
    event_latency_ms: dict[str, float | None]
    memory: dict[str, Any] = field(default_factory=dict)

    @property
    def cores(self) -> int:
        return int(self.host["cores"])

    @property
    def measured_cpu(self) -> bool:
        return self.served.seconds > 0 and self.baseline.seconds > 0

    def worker_load(self, window: Window) -> float:
        if window.seconds <= 0:
            return 0.0
        return float(window.workers / (int(self.options["workers"]) * window.seconds))

    def added_cpu_share(self) -> float:
        """The web process's CPU plus Redis's increase, as a share of the host (0 when the
        CPU windows were not run)."""
        if not self.measured_cpu:
            return 0.0
        redis_rate = (
            self.served.redis / self.served.seconds - self.baseline.redis / self.baseline.seconds
        )
        return (self.served.web / self.served.seconds + max(0.0, redis_rate)) / self.cores


def run_web_bench(
    settings: Settings, options: WebBenchOptions, say: Callable[[str], None] = print
) -> WebBenchResult:
    """Run the three phases; the result (and the report is written by ``web_report``)."""
    data_dir = settings.data_dir
    if not (data_dir / "test").is_dir():
        raise FerStreamError(f"expected FER2013 under {data_dir} for the synthetic cameras")
    cameras = [f"cam{i:02d}" for i in range(options.cameras)]
    with ExitStack() as stack:
        settings = broker(stack, settings, say)
        connection = connect_as(settings)
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ferstream-bench-web-"))
        pool = stack.enter_context(
            running_pool(connection, settings, options.workers, log_dir, say)
        )
        redis_pid = local_redis_pid(connection)
        stack.enter_context(recorded_cameras(connection, settings, cameras, options.fps, data_dir))
        say(
            f"{len(cameras)} cameras at {options.fps:g} fps; "
            f"warming up {options.warmup_seconds:g} s"
        )
        time.sleep(options.warmup_seconds)
        baseline = served = Window(0.0, 0.0, 0.0)
        seen, memory = Seen(), {}
        if options.window_seconds > 0:
            baseline = _measure(
                connection, settings, cameras, pool.pids, redis_pid, None, options.window_seconds
            )
            load = baseline.workers / (options.workers * baseline.seconds)
            say(f"baseline: workers' load {load:.0%}")
        with _web_process(settings) as (url, web_pid):
            time.sleep(3.0)  # the renderer finds the cameras
            if options.window_seconds > 0:
                served, seen = _served(
                    connection, settings, cameras, pool.pids, redis_pid, web_pid, url, options
                )
                say(f"served: web process {served.web / served.seconds:.3f} CPU s/s")
            if options.churn_seconds > 0:
                memory = _churn(url, web_pid, cameras, options, say)
    frame = _percentiles(seen.frame_latencies)
    events = _percentiles(seen.event_latencies)
    return WebBenchResult(
        options={**vars(options), "out": str(options.out)},
        host={
            "cores": os.cpu_count() or 1,
            "load_average": list(os.getloadavg()),
            "nice": os.nice(0),
        },
        baseline=baseline,
        served=served,
        seen={k: v for k, v in vars(seen).items() if not k.endswith("latencies")},
        frame_latency_ms=frame,
        event_latency_ms=events,
        memory=memory,
    )


def _served(
    connection: Any,
    settings: Settings,
    cameras: list[str],
    pids: list[int],
    redis_pid: int | None,
    web_pid: int,
    url: str,
    options: WebBenchOptions,
) -> tuple[Window, Seen]:
    holder: dict[str, Seen] = {}

    def view() -> None:
        holder["seen"] = in_own_process(
            url, options.window_seconds + 3.0, cameras, options.grid_viewers, options.page_viewers
        )

    viewers = threading.Thread(target=view, daemon=True)
    viewers.start()
    time.sleep(2.0)  # the viewers' process started, every viewer connected
    window = _measure(
        connection, settings, cameras, pids, redis_pid, web_pid, options.window_seconds
    )
    viewers.join(timeout=30.0)
    return window, holder.get("seen", Seen())


def _measure(
    connection: Any,
    settings: Settings,
    cameras: list[str],
    pids: list[int],
    redis_pid: int | None,
    web_pid: int | None,
    seconds: float,
) -> Window:
    def sample() -> tuple[float, float, float, float, int]:
        workers = sum(cpu_seconds(pid) or 0.0 for pid in pids)
        redis = (cpu_seconds(redis_pid) or 0.0) if redis_pid else 0.0
        web = _tree_cpu(web_pid) if web_pid else 0.0
        processed = sum(read_counts(connection, settings.key_prefix, c).processed for c in cameras)
        return time.monotonic(), workers, redis, web, processed

    start_busy = _host_busy()
    t0, w0, r0, v0, n0 = sample()
    time.sleep(seconds)
    t1, w1, r1, v1, n1 = sample()
    return Window(
        seconds=t1 - t0,
        workers=w1 - w0,
        redis=r1 - r0,
        web=v1 - v0,
        host_busy=_host_busy() - start_busy,
        results=n1 - n0,
    )


def _host_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _tree_cpu(pid: int) -> float:
    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
        return float(sum(p.cpu_times().user + p.cpu_times().system for p in processes))
    except psutil.Error:
        return 0.0


@contextmanager
def _web_process(settings: Settings) -> Iterator[tuple[str, int]]:
    """``ferstream web`` in its own process, so its CPU and memory are its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FERSTREAM_WEB")},
        **settings.to_env(),
        "FERSTREAM_WEB_PORT": str(port),
        "FERSTREAM_WEB_HOST": "127.0.0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ferstream.cli", "web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise FerStreamError("ferstream web exited at start")
            try:
                if httpx.get(url + "healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _churn(
    url: str, web_pid: int, cameras: list[str], options: WebBenchOptions, say: Callable[[str], None]
) -> dict[str, Any]:
    """Viewers come and go for ``churn_seconds``; the web process's RSS each second."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def watch() -> None:
        start = time.monotonic()
        while not done.is_set():
            rss = rss_bytes(web_pid)
            if rss is not None:
                samples.append((time.monotonic() - start, rss / MIB))
            done.wait(1.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    say(f"churn: {options.churn_viewers} viewers coming and going for {options.churn_seconds:g} s")
    seen = in_own_process(url, options.churn_seconds, cameras, 0, 0, options.churn_viewers, 1)
    time.sleep(2.0)
    done.set()
    watcher.join(timeout=5.0)
    open_streams = _open_streams(url)
    return {
        **_flatness(samples),
        "sessions": seen.sessions,
        "errors": seen.errors,
        "open_streams_after": open_streams,
        "samples": samples,
    }


def _open_streams(url: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in httpx.get(url + "metrics", timeout=5.0).text.splitlines():
        if line.startswith("ferstream_web_open_streams{"):
            found[line.split('kind="')[1].split('"')[0]] = float(line.split()[-1])
    return found


def _flatness(samples: list[tuple[float, float]]) -> dict[str, Any]:
    if len(samples) < 6:
        return {"rss_mib": None}
    times = np.array([t for t, _ in samples])
    rss = np.array([m for _, m in samples])
    third = len(rss) // 3
    settled = rss[third:]
    slope = float(np.polyfit(times[third:], settled, 1)[0]) * 3600.0
    half = len(settled) // 2
    return {
        "rss_mib": {
            "start": round(float(rss[0]), 1),
            "end": round(float(rss[-1]), 1),
            "peak": round(float(rss.max()), 1),
        },
        "settled_first_half_peak_mib": round(float(settled[:half].max()), 1),
        "settled_second_half_peak_mib": round(float(settled[half:].max()), 1),
        "slope_mib_per_hour": round(slope, 1),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ms = np.array(values) * 1000.0
    return {
        "count": len(values),
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "p99": round(float(np.percentile(ms, 99)), 1),
        "max": round(float(ms.max()), 1),
    }
