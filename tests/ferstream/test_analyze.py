"""``ferstream analyze``: every frame of a video through the queue and real workers."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from click.testing import CliRunner

from common.settings import Settings
from common.wire import EMOTIONS
from ferstream.analyze import COLOURS, annotate
from ferstream.cli import main
from producer.motion import MotionSequence
from tests.ferstream import cli_env, stored_result

VIDEO_FRAMES = 10


@pytest.fixture
def scene_video(fer_data_dir: Path, tmp_path: Path) -> Path:
    """A 10-frame MJPG .avi at 5 fps of one real FER face moving through a 320x240 scene."""
    path = tmp_path / "moving.avi"
    sequence = MotionSequence(
        fer_data_dir, duration=VIDEO_FRAMES / 5.0, seed=4, actors=1, size=(320, 240)
    )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (320, 240))
    assert writer.isOpened()
    for index in range(VIDEO_FRAMES):
        writer.write(sequence.frame_at(index / 5.0)[0])
    writer.release()
    return path


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.mark.slow
def test_analyze_writes_an_annotated_video_and_a_table(
    redis_conn: redis.Redis[bytes], settings: Settings, scene_video: Path, tmp_path: Path
) -> None:
    out, table = tmp_path / "out" / "annotated.mp4", tmp_path / "out" / "emotions.csv"
    # a shared machine may be slow; analysing a file should not lose frames to staleness
    env = cli_env(settings, FERSTREAM_MAX_FRAME_AGE="60")

    ran = CliRunner().invoke(
        main,
        ["analyze", str(scene_video), "--out", str(out), "--csv", str(table), "--workers", "1"],
        env=env,
    )

    assert ran.exit_code == 0, ran.output
    assert f"{VIDEO_FRAMES} frames analysed" in ran.output
    assert frame_count(out) == VIDEO_FRAMES
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
        320,
        240,
    )
    capture.release()
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= VIDEO_FRAMES // 2  # one face per scene, most of them found
    assert {row["emotion"] for row in rows} <= set(EMOTIONS)
    assert {int(row["frame"]) for row in rows} <= set(range(VIDEO_FRAMES))
    for row in rows:
        assert sum(float(row[f"p_{e}"]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-2)
        assert int(row["w"]) > 0 and int(row["h"]) > 0
    tracked = [row for row in rows if row["track"]]  # the moving face is one track
    assert len(tracked) >= len(rows) // 2 and len({row["track"] for row in tracked}) <= 2
    for row in tracked:
        assert row["smoothed_emotion"] in (*EMOTIONS, "uncertain")
        assert sum(float(row[f"smoothed_p_{e}"]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-2)


def test_annotate_draws_each_face_in_its_emotion_colour() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    result = stored_result("cam-1", 0)  # one happy face at (10, 20, 90, 90)

    drawn = annotate(image, result)
    halved = annotate(image, result, scale=0.5)

    assert not image.any()  # the frame itself is untouched
    happy = COLOURS[EMOTIONS.index("happy")]
    assert tuple(drawn[60, 10]) == happy  # left edge of the box
    assert tuple(drawn[60, 100]) == happy  # right edge
    assert tuple(halved[30, 5]) == happy and not halved[60, 100].any()


def test_annotate_marks_a_frame_without_a_result() -> None:
    image = np.zeros((240, 320, 3), np.uint8)

    drawn = annotate(image, None)

    assert drawn[:40, :200].any() and not drawn[100:].any()
