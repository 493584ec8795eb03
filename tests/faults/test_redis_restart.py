"""Scenario 2: Redis SIGKILLed under load and restarted on the same port, with AOF
(everysec) and without persistence."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from common.results import read_history
from tests.faults.harness import KEY_PREFIX, Stack, ledger, live_workers, settled, wait_until

pytestmark = pytest.mark.slow

CAMERAS = ("cam-a", "cam-b")
OUTAGE_SECONDS = 4.0


@pytest.mark.parametrize("appendonly", [True, False], ids=["aof-everysec", "no-persistence"])
def test_producers_and_workers_ride_through_a_redis_restart(
    appendonly: bool, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(appendonly)
    stack.start_pool(2)
    workers_before = {w.pid for w in live_workers(stack.server.client())}
    for camera in CAMERAS:
        stack.start_camera(camera, fps=15, seconds=20)
    time.sleep(6)

    stack.server.kill()
    time.sleep(OUTAGE_SECONDS)
    stack.server.start()
    restarted_at = time.time()

    stack.wait_cameras(60)
    connection = stack.server.client()
    try:
        took = wait_until(lambda: settled(connection, CAMERAS), 120, "every frame settled")
    except AssertionError as exc:
        books = {camera: ledger(connection, camera) for camera in CAMERAS}
        raise AssertionError(f"{exc}: {books}") from None

    books = {camera: ledger(connection, camera) for camera in CAMERAS}
    print(f"settled {took:.1f}s after the cameras stopped: {books}")
    for camera, each in books.items():
        assert each.unaccounted == 0, f"{camera}: {each}"
        after = [
            r
            for _, r in read_history(connection, KEY_PREFIX, camera)
            if r.captured_at > restarted_at
        ]
        assert after, f"{camera}: expected results of frames captured after the restart"
    assert {w.pid for w in live_workers(connection)} == workers_before  # rode through
    assert "found an unhandled exception" not in stack.log("pool.log")
    assert "exited with" not in stack.log("pool.log")
