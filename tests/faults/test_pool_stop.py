"""Scenario 4: the pool SIGTERMed with batches in hand finishes them within its grace."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from tests.faults.harness import Stack, ledger
from worker.pool import STOP_GRACE_SECONDS


@pytest.mark.slow
def test_a_pool_stopped_under_load_settles_every_frame_it_took(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(FERSTREAM_BATCH_MAX_FRAMES="16", FERSTREAM_MAX_PENDING_PER_CAMERA="32")
    stack.start_pool(2)
    stack.start_camera("cam-a", fps=150, seconds=30)
    time.sleep(5)
    assert stack.pool is not None

    stack.pool.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    stack.pool.wait(timeout=STOP_GRACE_SECONDS + 10)
    took = time.monotonic() - stopping
    for camera in stack.cameras:
        camera.send_signal(signal.SIGINT)
    stack.wait_cameras(30)

    books = ledger(stack.server.client(), "cam-a")
    print(f"pool stopped in {took:.1f}s: {books}")
    assert took < STOP_GRACE_SECONDS
    assert books.unaccounted == 0  # nothing in flight: every frame taken was settled
    assert "abandoned" not in books.counts.failed
    assert "killing it" not in stack.log("pool.log")
