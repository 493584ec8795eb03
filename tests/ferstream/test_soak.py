"""``ferstream soak``: its bad frames fail as they must, its trends are judged by the stated
rule, and a short real soak writes its report with every frame accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import redis
from click.testing import CliRunner

from common.accounting import UNKNOWN_CAMERA, read_counts
from common.settings import Settings
from ferstream.bench.scenes import LabelledFrame
from ferstream.cli import main
from ferstream.soak.badframes import KINDS, BadFrameMixer
from ferstream.soak.results import Injection
from ferstream.soak.trend import fit_trend, steadiness, warmup_seconds
from producer.submit import FrameSubmitter
from tests.ferstream import cli_env
from worker.rqworker import FerWorker

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_each_bad_frame_fails_under_its_reason_and_camera(
    worker: FerWorker, redis_conn: redis.Redis[bytes], settings: Settings, jpeg_bytes: bytes
) -> None:
    roomy = settings.with_changes(max_pending_per_camera=100)  # all queued before the burst
    submitter = FrameSubmitter(redis_conn, roomy)
    mixer = BadFrameMixer(every=2)
    scene = LabelledFrame(jpeg_bytes, 64, 48, ())

    for number in range(6):  # frames 1, 3, 5 are bad: one of each kind, in turn
        mixer.submit(submitter, "cam-1", number, scene)
    worker.work(burst=True)

    assert mixer.injected() == {"truncated": 1, "decode": 1, "schema": 1}
    camera = read_counts(redis_conn, settings.key_prefix, "cam-1")
    assert (camera.submitted, camera.processed) == (5, 3)
    assert camera.failed == {"truncated": 1, "decode": 1}
    unknown = read_counts(redis_conn, settings.key_prefix, UNKNOWN_CAMERA)
    assert (unknown.submitted, unknown.failed) == (1, {"schema": 1})
    assert mixer.submit_errors() == 0


_T = np.arange(0.0, 600.0, 10.0)  # ten minutes, a sample every 10 s
_WOBBLE = 0.2 * np.sin(_T / 7.0)


@pytest.mark.parametrize(
    ("values", "floor", "within"),
    [
        (100.0 + _WOBBLE, 1.0, True),  # flat, a little noise
        (100.0 + _T / 200.0 + _WOBBLE, 1.0, False),  # 3 MiB in ten minutes: a leak
        (100.0 + _T / 2000.0 + _WOBBLE, 1.0, True),  # 0.3 MiB: under the 1 MiB floor
        (12.0 + (_T >= 300.0), 2.0, True),  # one more descriptor halfway: a step, not a leak
        (12.0 + np.floor(_T / 100.0), 2.0, False),  # one more every 100 s: a leak
    ],
    ids=["flat", "leak", "small", "step", "fd leak"],
)
def test_a_slope_is_within_noise_when_its_change_is_under_twice_the_noise_or_the_floor(
    values: np.ndarray, floor: float, within: bool
) -> None:
    trend = fit_trend(list(_T), list(values), floor, "MiB")

    assert trend is not None and trend.within_noise is within
    per_hour = trend.change / (590.0 / 3600.0)  # 590 s from the first sample to the last
    assert trend.slope_per_hour == pytest.approx(per_hour, rel=1e-2, abs=0.05)


def test_too_few_samples_make_no_trend() -> None:
    assert fit_trend([0.0, 10.0, 20.0], [1.0, 2.0, 3.0], 1.0, "MiB") is None


@pytest.mark.parametrize(
    ("minutes", "warmup"), [(60.0, 360.0), (30.0, 180.0), (2.5, 75.0), (0.5, 15.0)]
)
def test_the_warmup_is_two_minutes_or_a_tenth_never_more_than_half(
    minutes: float, warmup: float
) -> None:
    assert warmup_seconds(minutes * 60.0) == warmup


@pytest.mark.parametrize(
    ("first", "last", "steady"), [(40.0, 50.0, True), (40.0, 70.0, False), (None, 50.0, None)]
)
def test_p99_is_steady_when_the_last_third_is_at_most_one_and_a_half_the_first(
    first: float | None, last: float | None, steady: bool | None
) -> None:
    assert steadiness(None, first, last).steady is steady


@pytest.mark.slow
def test_a_short_soak_samples_counts_every_bad_frame_and_keeps_the_identity(
    redis_conn: redis.Redis[bytes], settings: Settings, fer_data_dir: Path, tmp_path: Path
) -> None:
    args = ["soak", "--minutes", "0.5", "--sample-seconds", "2", "--fps", "16"]
    args += ["--bad-every", "10", "--scenes", "8", "--out", str(tmp_path)]
    env = cli_env(settings, FERSTREAM_DATA_DIR=str(fer_data_dir))

    done = CliRunner().invoke(main, args, env=env)

    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "soak.json").read_text())
    load = [s for s in report["samples"] if not s["draining"]]
    assert len(load) >= 12 and report["samples"][-1]["draining"]  # 30 s / 2 s, then the drain
    for sample in load:
        assert len(sample["worker_rss_mb"]) == 2 and sample["redis_used_mb"] > 0
        assert {"soak", "redis"} <= sample["fds"].keys() and sample["results"] > 0
    injection = report["injection"]
    assert set(injection["injected"]) == set(KINDS.values())
    failed, injected = injection["failed"], injection["injected"]
    assert all(failed.get(reason, 0) <= n for reason, n in injected.items())
    short = sum(n - failed.get(reason, 0) for reason, n in injected.items())
    assert short <= injection["queue_full"]  # only frames drop_oldest evicted unseen are short
    cameras = report["cameras"]
    submitted = sum(c["submitted"] for c in cameras.values())  # every frame sent
    assert sum(injection["injected"].values()) in range(submitted // 10 - 1, submitted // 10 + 1)
    assert cameras[UNKNOWN_CAMERA]["failed"] == {"schema": injection["injected"]["schema"]}
    assert report["identity_holds"] and all(c["identity_holds"] for c in cameras.values())
    assert report["errors"]["total"] == 0
    verdicts = {t["target"].split(":")[0]: t["met"] for t in report["targets"]}
    assert verdicts["no errors beyond the injected bad frames"] is True
    assert (tmp_path / "soak.png").read_bytes().startswith(PNG_MAGIC)
    assert "| soak-c0 |" in (tmp_path / "soak.md").read_text() and "## Targets" in done.output
    assert not list(redis_conn.scan_iter(match="ferstream-bench-*"))  # a shared Redis left clean


def test_injected_frames_short_of_their_reason_must_be_within_the_overflow_drops() -> None:
    exact = Injection(10, {"decode": 5, "schema": 5}, {"decode": 5, "schema": 5}, True, 0)
    evicted = Injection(10, {"decode": 5, "schema": 5}, {"decode": 3, "schema": 5}, False, 2)
    lost = Injection(10, {"decode": 5, "schema": 5}, {"decode": 3, "schema": 5}, False, 1)
    extra = Injection(10, {"decode": 5}, {"decode": 6}, False, 9)
    assert exact.accounted and evicted.accounted and evicted.short == 2
    assert not lost.accounted and not extra.accounted
