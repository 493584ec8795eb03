from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common import defaults
from common.errors import FerStreamError
from common.settings import Settings


def test_defaults_come_from_defaults_module() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url is None  # None: an embedded redis-server is started
    assert settings.queue_name == defaults.DEFAULT_QUEUE_NAME
    assert settings.key_prefix == defaults.DEFAULT_KEY_PREFIX
    assert settings.model_path == defaults.DEFAULT_MODEL_PATH


@pytest.mark.parametrize(
    ("env", "overrides", "expected"),
    [
        ({"REDIS_URL": "redis://a:6379/0"}, {}, "redis://a:6379/0"),
        ({"FERSTREAM_REDIS_URL": "redis://b:6379/0"}, {}, "redis://b:6379/0"),
        (
            {"REDIS_URL": "redis://a:6379/0", "FERSTREAM_REDIS_URL": "redis://b:6379/0"},
            {},
            "redis://b:6379/0",
        ),
        ({"REDIS_URL": "redis://a:6379/0"}, {"redis_url": "redis://cli:1/0"}, "redis://cli:1/0"),
        ({"REDIS_URL": "redis://a:6379/0"}, {"redis_url": None}, "redis://a:6379/0"),
        ({"REDIS_URL": ""}, {}, None),
    ],
)
def test_redis_url_resolution(
    env: dict[str, str], overrides: dict[str, Any], expected: str | None
) -> None:
    assert Settings.from_env(env, **overrides).redis_url == expected


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("FERSTREAM_QUEUE_NAME", "frames-b", "queue_name", "frames-b"),
        ("FERSTREAM_KEY_PREFIX", "fs", "key_prefix", "fs"),
        ("FERSTREAM_RESULTS_STREAM_MAXLEN", "50", "results_stream_maxlen", 50),
        ("FERSTREAM_MAX_FRAME_AGE", "0.5", "max_frame_age", 0.5),
        ("FERSTREAM_DETECT_DOWNSCALE", "0.5", "detect_downscale", 0.5),
        (
            "FERSTREAM_DETECT_CASCADE",
            "haarcascade_frontalface_alt.xml",
            "detect_cascade",
            "haarcascade_frontalface_alt.xml",
        ),
        ("FERSTREAM_BATCH_MAX_FRAMES", "8", "batch_max_frames", 8),
        ("FERSTREAM_BATCH_MAX_WAIT", "0.01", "batch_max_wait", 0.01),
        ("FERSTREAM_FLIP_TTA", "yes", "flip_tta", True),
        ("FERSTREAM_FLIP_TTA", "On", "flip_tta", True),
        ("FERSTREAM_FLIP_TTA", "0", "flip_tta", False),
        ("FERSTREAM_FLIP_TTA", "false", "flip_tta", False),
        ("FERSTREAM_MODEL_PATH", "/tmp/m.keras", "model_path", Path("/tmp/m.keras")),
        ("FERSTREAM_CONCURRENCY", "4", "concurrency", 4),
        ("FERSTREAM_CONCURRENCY", "", "concurrency", defaults.DEFAULT_CONCURRENCY),
    ],
)
def test_environment_parsing(variable: str, raw: str, field: str, expected: Any) -> None:
    value = getattr(Settings.from_env({variable: raw}), field)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"FERSTREAM_CONCURRENCY": "two"}, "FERSTREAM_CONCURRENCY: expected int, got 'two'"),
        (
            {"FERSTREAM_MAX_FRAME_AGE": "soon"},
            "FERSTREAM_MAX_FRAME_AGE: expected float, got 'soon'",
        ),
        ({"FERSTREAM_FLIP_TTA": "maybe"}, "FERSTREAM_FLIP_TTA: expected bool, got 'maybe'"),
        ({"FERSTREAM_CONCURRENCY": "0"}, "setting concurrency must be > 0, got 0"),
        ({"FERSTREAM_MAX_FRAME_BYTES": "-1"}, "setting max_frame_bytes must be > 0, got -1"),
        ({"FERSTREAM_DETECT_SCALE_FACTOR": "1.0"}, "detect_scale_factor must be > 1.0, got 1.0"),
        ({"FERSTREAM_DETECT_DOWNSCALE": "2"}, "detect_downscale must be in [0.05, 1.0], got 2.0"),
        ({"FERSTREAM_BATCH_MAX_FRAMES": "0"}, "batch_max_frames must be > 0, got 0"),
        (
            {"FERSTREAM_BATCH_MAX_WAIT": "-1"},
            "batch_max_wait must be in [0, max_frame_age=2.0), got -1.0",
        ),
        (
            {"FERSTREAM_BATCH_MAX_WAIT": "5"},
            "batch_max_wait must be in [0, max_frame_age=2.0), got 5.0",
        ),
        ({"FERSTREAM_MAX_FRAME_AGE": "0"}, "setting max_frame_age must be > 0, got 0.0"),
        (
            {"FERSTREAM_WEB_METRICS_PORT": "70000"},
            "setting web_metrics_port must be a TCP port 0..65535 (0: off), got 70000",
        ),
    ],
)
def test_bad_values_give_clear_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(FerStreamError) as caught:
        Settings.from_env(env)
    assert fragment in str(caught.value)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://from-env:6379/3")
    monkeypatch.setenv("FERSTREAM_QUEUE_NAME", "q-env")
    settings = Settings.from_env()
    assert (settings.redis_url, settings.queue_name) == ("redis://from-env:6379/3", "q-env")


def test_settings_are_frozen_and_copied_with_changes() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.queue_name = "other"  # type: ignore[misc]
    changed = settings.with_changes(queue_name="other")
    assert (settings.queue_name, changed.queue_name) == (defaults.DEFAULT_QUEUE_NAME, "other")


@pytest.mark.parametrize(
    ("concurrency", "threads_per_worker", "cores", "expected"),
    [(1, 0, 8, 8), (4, 0, 8, 2), (16, 0, 8, 1), (4, 3, 8, 3)],
)
def test_worker_threads(
    concurrency: int, threads_per_worker: int, cores: int, expected: int
) -> None:
    settings = Settings(concurrency=concurrency, threads_per_worker=threads_per_worker)
    assert settings.worker_threads(cores) == expected
