"""Helpers for the tests of the ``ferstream`` programs: CLI environments, stored results."""

from __future__ import annotations

import time

from common.settings import Settings
from common.wire import EMOTIONS, Box, FaceResult, Result, StageTimings


def cli_env(settings: Settings, **more: str) -> dict[str, str]:
    """Environment for a ``ferstream`` command that talks to the test server and prefix."""
    assert settings.redis_url is not None
    return {"REDIS_URL": settings.redis_url, "FERSTREAM_KEY_PREFIX": settings.key_prefix, **more}


def stored_result(camera_id: str, frame_number: int) -> Result:
    """A result as a worker publishes it: one happy face at (10, 20, 90, 90), 200 ms old."""
    now = time.time()
    probabilities = tuple(0.7 if i == 3 else 0.05 for i in range(len(EMOTIONS)))
    return Result(
        camera_id=camera_id,
        frame_number=frame_number,
        captured_at=now - 0.2,
        faces=(FaceResult(Box(10, 20, 90, 90), 3, probabilities),),
        timings=StageTimings(0.01, 0.002, 0.03, 0.02, 0.06),
        worker_id="w1",
        model_id="ferstream-mnv2-0123456789ab",
        published_at=now,
    )
