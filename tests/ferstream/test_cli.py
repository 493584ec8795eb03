"""The ``ferstream`` command's thin wrappers: ``results`` from a stream, errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from common.settings import Settings
from ferstream.cli import main
from tests.ferstream import cli_env, stored_result
from worker.publisher import publish_result


def test_results_prints_stored_results_as_json_lines(
    redis_conn: redis.Redis[bytes], settings: Settings
) -> None:
    with redis_conn.pipeline() as batch:
        for number in range(3):
            publish_result(batch, settings.key_prefix, stored_result("cam-7", number), 100)
        publish_result(batch, settings.key_prefix, stored_result("cam-8", 9), 100)
        batch.execute()
    runner = CliRunner()

    everything = runner.invoke(main, ["results", "--camera", "cam-7"], env=cli_env(settings))
    last_two = runner.invoke(
        main, ["results", "--camera", "cam-7", "--count", "2"], env=cli_env(settings)
    )
    nothing = runner.invoke(main, ["results", "--camera", "cam-none"], env=cli_env(settings))

    assert everything.exit_code == 0, everything.output
    lines = [json.loads(line) for line in everything.output.splitlines()]
    assert [line["frame_number"] for line in lines] == [0, 1, 2]
    assert {line["camera_id"] for line in lines} == {"cam-7"}
    assert lines[0]["faces"][0]["emotion"] == "happy"
    assert lines[0]["faces"][0]["box"] == [10, 20, 90, 90]
    assert lines[0]["latency_ms"] == pytest.approx(200.0, abs=1.0)
    assert [json.loads(line)["frame_number"] for line in last_two.output.splitlines()] == [1, 2]
    assert (nothing.exit_code, nothing.output) == (0, "")


def test_results_without_redis_url_is_a_one_line_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "FERSTREAM_REDIS_URL"}}

    finished = subprocess.run(
        [sys.executable, "-c", "from ferstream.cli import run; run()", "results", "--camera", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )

    assert finished.returncode == 2
    assert finished.stderr.strip().startswith("error: expected REDIS_URL")
    assert "Traceback" not in finished.stderr
