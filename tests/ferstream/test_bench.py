"""The benchmark programs run end to end and write their reports; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from common.settings import Settings
from ferstream.bench_detect import (
    DetectConfig,
    DetectScore,
    best_within_budget,
    pareto_front,
    recommend,
)
from ferstream.cli import main
from tests.ferstream import cli_env

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bench_detect_writes_json_markdown_and_plot(fer_data_dir: Path, tmp_path: Path) -> None:
    grid = ["--scale-factors", "1.2", "--min-neighbors", "5", "--min-sizes", "40"]
    args = ["bench-detect", "--scenes", "3", *grid, "--downscales", "1.0,0.5"]

    done = CliRunner().invoke(main, [*args, "--data-dir", str(fer_data_dir), "--out", tmp_path])

    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "bench-detect.json").read_text())
    assert [r["downscale"] for r in report["results"]] in ([1.0, 0.5], [0.5, 1.0])
    for row in report["results"]:
        assert 0.0 <= row["recall"] <= 1.0
        assert row["frames"] == 3 and row["true_faces"] == report["true_faces"] >= 3
    assert report["recommended"]["downscale"] in (1.0, 0.5) and report["recommended"]["reason"]
    assert (tmp_path / "bench-detect.png").read_bytes().startswith(PNG_MAGIC)
    assert "| recall |" in (tmp_path / "bench-detect.md").read_text()
    assert "**Recommended**" in done.output


def _score(ms: float, recall: float, false_positives: int = 0) -> DetectScore:
    """A setting's score over 10 frames and 1000 faces."""
    score = DetectScore(DetectConfig(1.1 + ms / 1000, 5, 40, 1.0), seconds=[ms / 1000.0] * 10)
    score.true_faces, score.matched = 1000, round(recall * 1000)
    score.found = score.matched + false_positives
    return score


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        # the best recall within 10 ms, and the fastest of those within 0.01 of it
        ([(4.0, 0.80), (6.0, 0.905), (8.0, 0.91), (30.0, 0.99)], (6.0, 0.905)),
        # nothing within 10 ms: the fastest near the best recall overall
        ([(20.0, 0.80), (30.0, 0.95), (60.0, 0.955)], (30.0, 0.95)),
    ],
)
def test_best_within_budget(
    scores: list[tuple[float, float]], expected: tuple[float, float]
) -> None:
    pick, reason = best_within_budget([_score(ms, recall) for ms, recall in scores], 10.0)

    assert (round(pick.ms, 3), pick.recall) == expected and reason


def test_recommend_is_the_fastest_setting_that_loses_no_faces() -> None:
    default = _score(50.0, 0.77, false_positives=5)
    fewer_faces = _score(10.0, 0.70)
    more_ghosts = _score(20.0, 0.765, false_positives=8)
    keeps_both = _score(25.0, 0.765, false_positives=2)

    pick, reason = recommend([default, fewer_faces, more_ghosts, keeps_both], default)

    assert pick is keeps_both and "2.0x faster" in reason


def test_pareto_front_keeps_only_settings_nothing_beats() -> None:
    scores = [_score(5.0, 0.7), _score(6.0, 0.6), _score(9.0, 0.9), _score(12.0, 0.85)]

    assert [(round(s.ms), s.recall) for s in pareto_front(scores)] == [(5, 0.7), (9, 0.9)]


@pytest.mark.slow
def test_quick_bench_on_one_worker_writes_its_report_and_accounts_for_every_frame(
    redis_conn: redis.Redis[bytes], settings: Settings, fer_data_dir: Path, tmp_path: Path
) -> None:
    runs = ["--workers", "1", "--loads", "50,200", "--duration", "1.5"]
    args = ["bench", "--quick", *runs, "--saturation-seconds", "1.5", "--no-references"]
    env = cli_env(settings, FERSTREAM_DATA_DIR=str(fer_data_dir))

    done = CliRunner().invoke(main, [*args, "--scenes", "8", "--out", tmp_path], env=env)

    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["saturation"]["1"]["frames_per_s"] > 0
    assert [step["load_pct"] for step in report["loads"]] == [50, 200]
    for run in [report["saturation"]["1"], *report["loads"]]:
        assert run["identity_holds"], run["run"]
        for counts in run["cameras"].values():
            settled = sum(counts["dropped"].values()) + sum(counts["failed"].values())
            assert counts["submitted"] == counts["processed"] + settled > 0
            assert counts["pending"] == 0 and counts["results_read"] == counts["processed"]
    accounting = next(t for t in report["targets"] if t["target"].startswith("accounting"))
    assert accounting["met"] is True
    for name in ("bench-latency.png", "bench-throughput.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    assert "| 200% |" in (tmp_path / "bench.md").read_text() and "| 200% |" in done.output
    assert not list(redis_conn.scan_iter(match="ferstream-bench-*"))  # a shared Redis is left clean
