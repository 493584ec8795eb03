from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import SourceError
from common.settings import Settings
from producer.frames import CapturedFrame
from producer.live import LiveCaptureSource
from producer.sources import ImageFolderSource, SceneSource, VideoFileSource, open_source
from tests.producer.mjpeg import MjpegCamera


def _solid(value: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """b.png (100), a.jpg (50), c.bmp (150), a broken .jpg and a text file."""
    cv2.imwrite(str(tmp_path / "b.png"), _solid(100))
    cv2.imwrite(str(tmp_path / "a.jpg"), _solid(50))
    cv2.imwrite(str(tmp_path / "c.BMP"), _solid(150))
    (tmp_path / "b2_broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def _levels(frames: list[CapturedFrame], step: int = 50) -> list[int]:
    """Each frame's mean grey level, rounded to ``step`` (JPEG moves it a little)."""
    return [round(float(frame.image.mean()) / step) * step for frame in frames]


def test_folder_yields_images_in_name_order_then_ends(
    image_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), open_source(str(image_folder)) as source:
        assert isinstance(source, ImageFolderSource)
        assert not source.is_live
        frames = list(source)
    assert [f.metadata["file"] for f in frames] == ["a.jpg", "b.png", "c.BMP"]
    assert _levels(frames) == [50, 100, 150]
    assert all(f.image.shape == (48, 64, 3) and f.captured_at > 0 for f in frames)
    assert "b2_broken.jpg" in caplog.text


def test_folder_loops(image_folder: Path) -> None:
    with open_source(str(image_folder), loop=True) as source:
        frames = list(islice(source, 7))
    assert _levels(frames) == [50, 100, 150, 50, 100, 150, 50]


def test_folder_of_unreadable_images_fails(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"nothing")
    with (
        open_source(str(tmp_path), loop=True) as source,
        pytest.raises(SourceError, match="none of 1"),
    ):
        next(source)


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for value in (40, 80, 120, 160, 200):
        writer.write(_solid(value))
    writer.release()
    return path


def test_video_file_is_read_frame_by_frame(video_file: Path) -> None:
    with open_source(str(video_file)) as source:
        assert isinstance(source, VideoFileSource)
        frames = list(source)
    assert len(frames) == 5
    assert [f.metadata["file_frame"] for f in frames] == [0, 1, 2, 3, 4]
    assert _levels(frames, 40) == [40, 80, 120, 160, 200]
    assert all(f.image.shape == (48, 64, 3) for f in frames)


def test_video_file_loops(video_file: Path) -> None:
    with open_source(str(video_file), loop=True) as source:
        frames = list(islice(source, 12))
    assert [f.metadata["file_frame"] for f in frames] == [0, 1, 2, 3, 4] * 2 + [0, 1]


def test_closed_source_stops(video_file: Path) -> None:
    source = open_source(str(video_file))
    next(source)
    source.close()
    source.close()
    assert list(source) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{tmp}/missing.avi", "no such file or folder"),
        ("", "no such file or folder"),
        ("{tmp}/empty", "expected .* files, got none"),
        ("{tmp}/fake.avi", "expected a video OpenCV can read"),
        ("99", "webcam 99: expected a camera or stream that opens"),
        ("scenes:{tmp}/nowhere", "no such folder"),
    ],
)
def test_unopenable_sources_fail_at_open(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "fake.avi").write_bytes(b"RIFF not a video")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match=message):
        open_source(spec.format(tmp=tmp_path))


def test_unreachable_stream_gives_up_after_its_attempts() -> None:
    started = time.monotonic()
    with pytest.raises(
        SourceError, match=r"rtsp://127\.0\.0\.1:1/x.*\(tries: 2; the last: it would"
    ):
        open_source("rtsp://127.0.0.1:1/x", reconnect_attempts=1)
    assert time.monotonic() - started < 5.0


def test_stream_credentials_stay_out_of_messages() -> None:
    with pytest.raises(SourceError) as raised:
        open_source("rtsp://admin:hunter2@127.0.0.1:1/x", reconnect_attempts=0)
    assert "hunter2" not in str(raised.value)


@pytest.fixture
def mjpeg_camera() -> Iterator[MjpegCamera]:
    """A real MJPEG camera on loopback that drops each connection after three frames."""
    with MjpegCamera(frames_per_connection=3) as camera:
        yield camera


def test_dropped_stream_is_reopened_then_given_up(mjpeg_camera: MjpegCamera) -> None:
    source = LiveCaptureSource(mjpeg_camera.url, reconnect_attempts=2, backoff=(0.05, 0.1))
    assert source.is_live
    frames = [source.read() for _ in range(7)]  # the stream drops after every third frame
    assert all(frame is not None for frame in frames)
    assert mjpeg_camera.requests == 3  # opened, then reopened twice
    mjpeg_camera.stop()
    with pytest.raises(SourceError, match="within 2 reconnect attempts"):
        for _ in range(5):
            source.read()
    source.close()


def test_closing_interrupts_a_reconnect_wait(mjpeg_camera: MjpegCamera) -> None:
    source = LiveCaptureSource(mjpeg_camera.url, reconnect_attempts=3, backoff=(30.0, 30.0))
    for _ in range(3):
        assert source.read() is not None
    threading.Timer(0.3, source.close).start()
    started = time.monotonic()
    assert source.read() is None  # would otherwise wait 30 s to reconnect
    assert time.monotonic() - started < 5.0


def test_scenes_spec_gives_labelled_frames() -> None:
    data_dir = Settings.from_env().data_dir
    if not (data_dir / "test").is_dir():
        pytest.skip(f"FER2013 not found at {data_dir} (set FERSTREAM_DATA_DIR)")
    with open_source("scenes:", data_dir=data_dir, seed=5) as source:
        assert isinstance(source, SceneSource)
        frames = list(islice(source, 2))
    again = list(islice(open_source(f"scenes:{data_dir}", seed=5), 2))
    for frame, same in zip(frames, again, strict=True):
        assert frame.image.shape == (480, 640, 3)
        assert 1 <= len(frame.metadata["faces"]) <= 3
        assert frame.metadata == same.metadata


@pytest.mark.parametrize(
    "image",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)],
)
def test_captured_frame_wants_bgr_uint8(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\) uint8"):
        CapturedFrame(image, time.time())
