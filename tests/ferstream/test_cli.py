"""The ``ferstream`` command's thin wrappers: ``results`` from a stream, errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from common.settings import Settings
from ferstream.cli import main
from tests.ferstream import cli_env, stored_result
from tests.producer.mjpeg import MjpegCamera
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


PRODUCE = (sys.executable, "-c", "from ferstream.cli import run; run()", "-v", "produce")


def _produce(settings: Settings, source: str, *options: str) -> subprocess.Popen[str]:
    """``ferstream produce`` as an operator runs it: the source (maybe with a password)
    through the environment, Redis the test server."""
    return subprocess.Popen(
        [*PRODUCE, "--camera-id", "door", "--fps", "20", *options],
        env={**os.environ, **cli_env(settings, FERSTREAM_SOURCE=source)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(command: subprocess.Popen[str]) -> tuple[int, str]:
    """Exit status and everything the command printed."""
    try:
        stdout, stderr = command.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        command.kill()
        raise
    return command.returncode, stdout + stderr


@pytest.mark.parametrize("serves", ["nothing", "html_error"])
def test_produce_from_a_stream_that_never_opens_is_a_one_line_error(
    settings: Settings, serves: str
) -> None:
    with MjpegCamera() as camera:
        if serves == "nothing":
            camera.stop()  # connections refused
        else:
            camera.serve(serves)
        url = camera.url.replace("http://", "http://admin:hunter2@")
        status, output = _finish(
            _produce(settings, url, "--reconnect-attempts", "1", "--stream-timeout", "1")
        )

    assert status == 2, output
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"error: {camera.url}: expected a camera or stream that opens")
    assert last.endswith("(tries: 2; the last: it would not open)")
    assert "reconnecting in 0.50s (attempt 1 of 1)" in output
    assert "Traceback" not in output
    assert "hunter2" not in output  # FFmpeg's own logs included


def test_produce_exits_with_an_error_when_its_camera_stays_away(settings: Settings) -> None:
    with MjpegCamera(fps=20) as camera:
        command = _produce(settings, camera.url, "--reconnect-attempts", "2")
        deadline = time.monotonic() + 30
        while camera.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # frames flow
        camera.stop()
        stopped = time.monotonic()
        status, output = _finish(command)
        gave_up_after = time.monotonic() - stopped

    assert status == 2, output
    assert output.strip().splitlines()[-1] == (
        f"error: {camera.url}: expected frames again within 2 reconnect attempts, "
        "got none (the last: it would not open)"
    )
    assert camera.requests == 1
    assert "Traceback" not in output
    assert 0.5 + 1.0 <= gave_up_after < 0.5 + 1.0 + 2.0  # the two backoff waits, refused at once
