"""Scenario 3: Redis stops answering (SIGSTOP, as a dropped network looks to its clients):
timeouts fire, nothing hangs, and frames that waited past max age are dropped as stale."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from common.connection import SOCKET_TIMEOUT_SECONDS, connect
from common.defaults import DEFAULT_MAX_FRAME_AGE_SECONDS
from common.results import read_history
from tests.faults.harness import (
    KEY_PREFIX,
    RedisProcess,
    Stack,
    ledger,
    live_workers,
    settled,
    wait_until,
)

pytestmark = pytest.mark.slow

PAUSE_SECONDS = 18.0  # past every client's socket timeout (workers: 10 s + their 5 s dequeue)
CAMERA_SECONDS = 30.0
# The server runs what it was sent while paused once it wakes, even for clients that timed
# out and hung up: a worker's BLMOVE can take a frame (the producer's timed-out enqueue,
# run at the same moment) into RQ's intermediate queue with nobody to read the reply. RQ's
# sweep fails such a job as stuck a minute after it first sees it (``failed:abandoned``).
SETTLE_SECONDS = 150.0


def test_a_silent_redis_times_clients_out_and_late_frames_are_dropped_stale(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    stack.start_pool(2)
    workers_before = {w.pid for w in live_workers(stack.server.client())}
    stack.start_camera("cam-a", fps=15, seconds=CAMERA_SECONDS)
    time.sleep(5)

    stack.server.pause()
    paused_at = time.time()
    time.sleep(PAUSE_SECONDS)
    stack.server.resume()

    # the camera ends on time: a submit waits at most its socket timeout, then gives up
    stack.wait_cameras(CAMERA_SECONDS + SOCKET_TIMEOUT_SECONDS + 30)
    connection = stack.server.client()
    try:
        wait_until(lambda: settled(connection, ["cam-a"]), SETTLE_SECONDS, "every frame settled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {ledger(connection, 'cam-a')}") from None

    books = ledger(connection, "cam-a")
    results = [r for _, r in read_history(connection, KEY_PREFIX, "cam-a")]
    late = [r for r in results if r.published_at - r.captured_at > PAUSE_SECONDS / 2]
    print(f"{books}; {len(late)} results published late (computed before the pause)")
    assert books.unaccounted == 0
    assert books.counts.dropped.get("stale", 0) >= 1  # waited through the pause
    # only frames computed before the pause settle late: at most a batch per worker
    assert len(late) <= 2 * 4
    assert all(r.captured_at < paused_at + 1 for r in late)
    fresh = [r for r in results if r.published_at - r.captured_at <= DEFAULT_MAX_FRAME_AGE_SECONDS]
    assert any(r.captured_at > paused_at + PAUSE_SECONDS for r in fresh)  # work resumed
    assert {w.pid for w in live_workers(connection)} == workers_before
    assert "found an unhandled exception" not in stack.log("pool.log")


def test_a_command_whose_reply_timed_out_is_never_sent_again(tmp_path: Path) -> None:
    """A client from a URL does not retry (redis-py's ``Redis(host, port)`` would, three
    times): a paused server runs every copy it was sent once it wakes, a counter added
    twice where the caller saw a timeout."""
    server = RedisProcess(tmp_path, appendonly=False).start()
    try:
        client = connect(server.url, socket_timeout=0.5)
        client.set("count", 0)
        server.pause()
        waking = threading.Timer(2.0, server.resume)
        waking.start()
        with pytest.raises(redis.TimeoutError):
            client.incr("count")
        waking.join()
        time.sleep(1.0)  # the server has read and run what it was sent while paused
        assert server.client().get("count") == b"1"
    finally:
        server.kill()


def test_a_connection_a_restart_broke_is_tried_once_more_at_once(tmp_path: Path) -> None:
    """The first command after a restart meets the new server, not the closed socket."""
    server = RedisProcess(tmp_path, appendonly=False).start()
    try:
        client = connect(server.url, socket_timeout=2.0)
        assert client.incr("count") == 1
        server.kill()
        server.start()  # the same port, empty: the old connection is closed
        assert client.incr("count") == 1
    finally:
        server.kill()
