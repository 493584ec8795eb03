"""The real-footage report on the real clips and photos, through the worker's own path."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import Settings
from common.wire import EMOTIONS
from training.real_footage import DEFAULT_REAL_DIR, SEGMENTS, build_report, read_frames, render

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_dir() -> Path:
    if not (DEFAULT_REAL_DIR / "single_face.mp4").is_file():
        pytest.skip(f"no real clips at {DEFAULT_REAL_DIR}")
    return DEFAULT_REAL_DIR


@pytest.fixture(scope="module")
def report(real_dir: Path, fer_data_dir: Path) -> dict[str, object]:
    built, _ = build_report(Settings.from_env(), real_dir, framing_limit=120, with_fer=False)
    return built


@pytest.mark.parametrize(
    ("name", "frames"), [("single_face.mp4", 72), ("no_face.mp4", 95), ("multi_face.jpg", 1)]
)
def test_every_frame_of_a_clip_is_read(real_dir: Path, name: str, frames: int) -> None:
    assert sum(1 for _ in read_frames(real_dir / name)) == frames


def test_each_segment_gets_its_frames_and_label_shares(report: dict[str, object]) -> None:
    rows = report["ferstream"]
    assert isinstance(rows, dict)
    assert len(rows) == len(SEGMENTS)
    smiling = rows["single_face.mp4: smiling with teeth (25-62)"]
    assert smiling["frames"] == 38
    assert smiling["frames_with_face"] >= 30  # a frontal face in good light
    assert set(smiling["shares"]) == set(EMOTIONS)
    assert sum(smiling["shares"].values()) == pytest.approx(1.0)
    assert rows["no_face.mp4: no face at all"]["faces"] == 0  # nothing may be reported
    assert rows["multi_face.jpg: several faces"]["faces"] >= 2


def test_framing_compares_the_serving_crop_with_fer2013s(report: dict[str, object]) -> None:
    framing = report["framing"]
    assert isinstance(framing, dict)
    assert framing["faces"] == 120 and 60 <= framing["detected"] <= 120
    assert 0.5 < framing["box_side_of_face"] < 1.2
    assert set(framing["accuracy_by_margin"]) == {"0", "0.1", "0.2", "0.3"}


def test_the_report_says_when_fer_is_missing(report: dict[str, object]) -> None:
    text = render(report)
    assert "| single_face.mp4: smiling with teeth (25-62) | ferstream | " in text
    assert "The `fer` package is not installed here" in text
