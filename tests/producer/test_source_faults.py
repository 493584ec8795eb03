"""A live source against a real MJPEG camera on loopback that stalls, drops, refuses
connections or sends garbage: bounded detection, reconnects with backoff, frames again,
and every fault counted in the camera's source metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from common.errors import SourceError
from common.metrics import ProducerMetrics
from producer.frames import CapturedFrame
from producer.live import FAILED_READS_BEFORE_RECONNECT, LiveCaptureSource
from tests.producer.mjpeg import GARBAGE_KINDS, MjpegCamera

CAMERA = "door"
TIMEOUT = 0.5  # seconds FFmpeg may wait to open the stream or read a frame
BACKOFF = (0.1, 0.4)  # first reconnect wait, and its cap
SLACK = 0.75  # seconds for threads, sockets and FFmpeg's own work on a busy machine


@dataclass
class Probe:
    """The camera's source metrics, read from a registry of their own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.health = ProducerMetrics.create(self.registry).source_health(CAMERA)

    def value(self, name: str) -> float:
        found = self.registry.get_sample_value(name, {"camera": CAMERA})
        assert found is not None, f"{name} has no series for camera {CAMERA}"
        return found

    @property
    def up(self) -> float:
        return self.value("ferstream_source_up")

    @property
    def reconnects(self) -> float:
        return self.value("ferstream_source_reconnects_total")

    @property
    def read_failures(self) -> float:
        return self.value("ferstream_source_read_failures_total")


class Reader:
    """Reads a source on a thread of its own, keeping each frame's grey level and time."""

    def __init__(self, source: LiveCaptureSource) -> None:
        self.source = source
        self.frames: list[tuple[float, int]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for frame in self.source:
                self.frames.append((time.monotonic(), _level(frame)))
        except BaseException as exc:  # kept for the test to assert on
            self.error = exc

    def first_at(self, level: int) -> float | None:
        """When the first frame of ``level`` arrived."""
        return next((at for at, seen in list(self.frames) if seen == level), None)

    def close(self) -> None:
        self.source.close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def _level(frame: CapturedFrame) -> int:
    return round(float(frame.image.mean()) / 10) * 10  # JPEG moves the grey a little


def wait_for(condition: Callable[[], object], within: float) -> float:
    """Seconds until ``condition()`` holds; fails the test after ``within``."""
    started = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - started
        assert elapsed < within, f"not within {within:.2f}s"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    with MjpegCamera(level=80) as camera:
        yield camera


def live(camera: MjpegCamera, probe: Probe, attempts: int = 30) -> LiveCaptureSource:
    return LiveCaptureSource(
        camera.url,
        reconnect_attempts=attempts,
        backoff=BACKOFF,
        timeout=TIMEOUT,
        health=probe.health,
    )


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def reader(camera: MjpegCamera, probe: Probe) -> Iterator[Reader]:
    reader = Reader(live(camera, probe))
    wait_for(lambda: reader.first_at(80) is not None, 5.0)
    assert (probe.up, probe.reconnects, probe.read_failures) == (1, 0, 0)
    yield reader
    reader.close()


def test_a_stalled_stream_times_out_reconnects_and_flows_again_on_resume(
    camera: MjpegCamera, probe: Probe, reader: Reader
) -> None:
    camera.stall()
    detected = wait_for(lambda: probe.read_failures >= 1, TIMEOUT + SLACK)
    assert detected >= TIMEOUT * 0.8  # the read waited for its timeout, not less
    wait_for(lambda: probe.up == 0, SLACK)
    wait_for(lambda: probe.reconnects >= 2, 2 * (BACKOFF[1] + TIMEOUT) + SLACK)
    assert reader.first_at(200) is None and reader.error is None  # reopens time out too

    camera.level = 200
    camera.resume()
    resumed = time.monotonic()
    wait_for(lambda: reader.first_at(200) is not None, BACKOFF[1] + 2 * TIMEOUT + SLACK)
    back_after = (reader.first_at(200) or 0.0) - resumed
    assert back_after < BACKOFF[1] + 2 * TIMEOUT + SLACK
    assert probe.up == 1
    assert reader.error is None


def test_a_dropped_stream_is_reopened_after_the_first_backoff(
    camera: MjpegCamera, probe: Probe, reader: Reader
) -> None:
    camera.level = 160
    dropped = time.monotonic()
    camera.drop()
    wait_for(lambda: reader.first_at(160) is not None, BACKOFF[0] + TIMEOUT + SLACK)
    assert (reader.first_at(160) or 0.0) - dropped >= BACKOFF[0]  # it waited before reopening
    assert probe.reconnects == 1
    assert probe.read_failures == FAILED_READS_BEFORE_RECONNECT  # at once, no timeout
    assert probe.up == 1
    assert camera.requests == 2


def test_a_camera_that_refuses_connections_is_retried_until_it_listens_again(
    camera: MjpegCamera, probe: Probe, reader: Reader
) -> None:
    camera.stop()
    wait_for(lambda: probe.up == 0, TIMEOUT + SLACK)
    wait_for(lambda: probe.reconnects >= 3, BACKOFF[0] + 2 * BACKOFF[1] + SLACK)
    assert camera.requests == 1  # every reopen was refused
    camera.level = 240
    camera.start()
    restarted = time.monotonic()
    wait_for(lambda: reader.first_at(240) is not None, BACKOFF[1] + TIMEOUT + SLACK)
    assert (reader.first_at(240) or 0.0) - restarted < BACKOFF[1] + TIMEOUT + SLACK
    assert probe.up == 1
    assert reader.error is None


def test_one_frame_that_does_not_decode_is_skipped_without_a_reconnect(
    camera: MjpegCamera, probe: Probe, reader: Reader
) -> None:
    camera.garble(1)
    camera.level = 120
    wait_for(lambda: reader.first_at(120) is not None, 2.0)
    wait_for(lambda: probe.read_failures == 1, 2.0)
    assert (probe.reconnects, probe.up, camera.requests) == (0, 1, 1)


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_garbage_is_counted_then_given_up_with_a_clear_error(
    camera: MjpegCamera, probe: Probe, kind: str
) -> None:
    source = live(camera, probe, attempts=2)
    assert source.read() is not None
    camera.serve(kind)
    started = time.monotonic()
    last = "sent no frame that decodes" if kind == "not_jpeg" else "would not open"
    with pytest.raises(SourceError, match=f"within 2 reconnect attempts, got none.*{last}"):
        for _ in range(100):  # frames already buffered come first
            source.read()
    # two reopens, each at most a backoff wait, an open and a read that time out
    assert time.monotonic() - started < 2 * (BACKOFF[1] + 2 * TIMEOUT) + SLACK
    assert (probe.reconnects, probe.up) == (2, 0)
    assert probe.read_failures >= 1
    assert camera.requests == 3
    source.close()


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_after_garbage_the_stream_comes_back(
    camera: MjpegCamera, probe: Probe, reader: Reader, kind: str
) -> None:
    camera.serve(kind)
    wait_for(lambda: probe.reconnects >= 2, 2 * (BACKOFF[1] + 2 * TIMEOUT) + SLACK)
    assert probe.up == 0
    camera.level = 200
    camera.serve("jpeg")
    wait_for(lambda: reader.first_at(200) is not None, BACKOFF[1] + 2 * TIMEOUT + SLACK)
    assert probe.up == 1
    assert reader.error is None


def test_a_stream_that_never_opens_fails_with_what_it_last_saw(probe: Probe) -> None:
    with MjpegCamera() as camera:
        camera.serve("html_error")
        with pytest.raises(SourceError, match=r"\(tries: 3; the last: it would not open\)"):
            live(camera, probe, attempts=2)
    assert (probe.reconnects, probe.up) == (2, 0)


def test_closing_ends_a_stalled_read_within_the_timeout(
    camera: MjpegCamera, probe: Probe, reader: Reader
) -> None:
    camera.stall()
    time.sleep(0.1)
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert probe.up == 0
    assert reader.error is None
