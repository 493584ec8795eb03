"""The privacy settings (``FERSTREAM_PRIVACY`` and the rest of its block): parsing,
checks, and what strict changes."""

from __future__ import annotations

from typing import Any

import pytest

from common import defaults
from common.errors import FerStreamError
from common.settings import Settings


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("FERSTREAM_PRIVACY", "strict", "privacy", "strict"),
        ("FERSTREAM_RETENTION_SECONDS", "600", "retention_seconds", 600),
        ("FERSTREAM_RESULTS_MODE", "aggregate", "results_mode", "aggregate"),
        ("FERSTREAM_AGGREGATE_WINDOW", "60", "aggregate_window", 60),
        ("FERSTREAM_AGGREGATE_MIN_FACES", "10", "aggregate_min_faces", 10),
        ("FERSTREAM_BLUR_FACES", "pixelate", "blur_faces", "pixelate"),
    ],
)
def test_privacy_settings_are_read_from_the_environment(
    variable: str, raw: str, field: str, expected: Any
) -> None:
    assert getattr(Settings.from_env({variable: raw}), field) == expected


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"FERSTREAM_PRIVACY": "paranoid"}, "privacy must be one of ('off', 'strict')"),
        ({"FERSTREAM_RESULTS_MODE": "some"}, "results_mode must be one of ('faces', 'aggregate')"),
        ({"FERSTREAM_BLUR_FACES": "smudge"}, "blur_faces must be one of ('', 'off', 'blur',"),
        ({"FERSTREAM_RETENTION_SECONDS": "-1"}, "retention_seconds must be >= 0"),
        ({"FERSTREAM_AGGREGATE_WINDOW": "0"}, "aggregate_window must be >= 1, got 0"),
        ({"FERSTREAM_AGGREGATE_MIN_FACES": "0"}, "aggregate_min_faces must be >= 1, got 0"),
    ],
)
def test_bad_privacy_settings_give_clear_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(FerStreamError) as caught:
        Settings.from_env(env)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "frame_ttl", "retention", "blur"),
    [
        ({}, 62, 0, "off"),  # the default stays as before issue 14
        ({"privacy": "strict"}, 2 + defaults.PRIVACY_FRAME_TTL_MARGIN_SECONDS, 3600, "blur"),
        (
            {"privacy": "strict", "max_frame_age": 0.5, "retention_seconds": 60},
            1 + defaults.PRIVACY_FRAME_TTL_MARGIN_SECONDS,
            60,
            "blur",
        ),
        ({"privacy": "strict", "blur_faces": "off"}, 7, 3600, "off"),
        ({"blur_faces": "pixelate"}, 62, 0, "pixelate"),
    ],
)
def test_what_strict_privacy_changes(
    changes: dict[str, Any], frame_ttl: int, retention: int, blur: str
) -> None:
    settings = Settings(**changes)
    assert settings.queued_job_ttl == frame_ttl
    assert settings.results_retention == retention
    assert settings.blur_mode == blur


def test_privacy_settings_reach_child_processes() -> None:
    settings = Settings(privacy="strict", results_mode="aggregate", retention_seconds=90)
    assert Settings.from_env(settings.to_env()) == settings
