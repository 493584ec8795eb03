"""``run_demo``: embedded pieces wired together, reporting settled counts and live figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from common.errors import SourceError
from common.settings import Settings
from ferstream.demo import DemoOptions, run_demo


@pytest.mark.slow
def test_a_short_demo_reports_settled_counts(
    redis_conn: redis.Redis[bytes], settings: Settings, fer_data_dir: Path, tmp_path: Path
) -> None:
    said: list[str] = []
    options = DemoOptions(cameras=1, duration=6.0, fps=3.0, report=tmp_path / "report.json")

    from tests.web.conftest import free_port

    port = free_port()
    report = run_demo(
        settings.with_changes(concurrency=1, data_dir=fer_data_dir, web_port=port),
        options,
        say=said.append,
    )

    counts = report["cameras"]["cam0"]
    assert counts["submitted"] >= 10  # ~3 frames/s for 6 s
    settled = counts["processed"] + sum(counts["dropped"].values()) + sum(counts["failed"].values())
    assert settled == counts["submitted"]
    assert counts["failed"] == {}
    assert 0 < report["frames"] == counts["processed"]
    assert report["workers"] == 1
    assert report["faces"] > 0 and report["face_recall"] is not None
    tracks = report["tracks"]  # the moving faces were tracked in process
    assert tracks["tracks"] >= 1 and tracks["track_seconds"] > 1.0
    assert tracks["smoothed_changes_per_track_second"] is not None  # a 6 s demo is no measure
    assert json.loads(options.report.read_text()) == report  # type: ignore[union-attr]
    assert any("ferstream demo report" in line for line in said)
    assert any("cam0: submitted" in line for line in said)
    assert any("\ntracks " in line for line in said)
    assert f"live view: open http://127.0.0.1:{port}/ in a browser (--no-web: off)" in said


def test_missing_data_fails_at_once_with_a_hint_and_starts_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    said: list[str] = []
    missing = settings.with_changes(redis_url=None, data_dir=tmp_path / "no-fer2013")

    with pytest.raises(SourceError, match="FERSTREAM_DATA_DIR"):
        run_demo(missing, DemoOptions(duration=1.0), say=said.append)
    assert said == []  # no Redis, no workers were started
