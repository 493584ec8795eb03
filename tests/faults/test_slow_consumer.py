"""Scenario 5: a results subscriber that never reads, and a ``--follow`` client killed.

Workers publish each result on the camera's channel and append it to its stream (trimmed
to ``results_stream_maxlen``); ``--follow`` reads the stream, so a slow follower costs
nothing; a pub/sub subscriber's backlog is bounded by Redis's output-buffer limit."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from common.keys import results_channel
from tests.faults.harness import KEY_PREFIX, Stack, ferstream_command, ledger, settled, wait_until

pytestmark = pytest.mark.slow

# small enough to reach in seconds; the product's own is DEFAULT_PUBSUB_OUTPUT_LIMIT
LIMIT = ["--client-output-buffer-limit", "pubsub", "64kb", "16kb", "1"]
STUCK = b"stuck-subscriber"


def test_a_subscriber_that_never_reads_is_dropped_and_workers_are_not_slowed(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(options=LIMIT)
    stack.start_pool(2)
    channel = results_channel(KEY_PREFIX, "cam-a")
    stuck = never_reading_subscriber(stack.server.port, channel)
    connection = stack.server.client()
    fill_socket_buffers(stack, channel)  # else the kernel hides megabytes of backlog
    before = int(connection.info("memory")["used_memory"])
    stack.start_camera("cam-a", fps=30, seconds=15)

    dropped = wait_until(lambda: not stuck_client(stack), 30, "Redis to drop the subscriber")
    stack.wait_cameras(60)
    wait_until(lambda: settled(connection, ["cam-a"]), 30, "every frame settled")
    books = ledger(connection, "cam-a")
    peak = int(connection.info("memory")["used_memory_peak"])
    print(f"subscriber dropped after {dropped:.1f}s; memory {before} -> peak {peak}; {books}")
    assert books.unaccounted == 0
    assert books.counts.dropped.get("stale", 0) == 0  # the workers kept up throughout
    assert books.counts.processed >= 0.9 * books.counts.submitted
    assert peak - before < 8 * 1024 * 1024
    stuck.close()


def test_a_killed_follow_client_leaves_no_subscriber_behind(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    stack.start_pool(1)
    follower = subprocess.Popen(
        [*ferstream_command(), "results", "--camera", "cam-a", "--follow"],
        env=stack.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: followers(stack) == 1, 30, "the follower to block on its stream")
    follower.send_signal(signal.SIGKILL)
    follower.wait()
    gone = wait_until(lambda: followers(stack) == 0, 10, "Redis to forget the follower")
    print(f"follower gone from Redis {gone:.2f}s after SIGKILL")


def never_reading_subscriber(port: int, channel: str) -> socket.socket:
    """A raw client that subscribes, then never reads (a tiny receive buffer, so Redis
    sees the backlog instead of the kernel hiding it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(command(b"CLIENT", b"SETNAME", STUCK) + command(b"SUBSCRIBE", channel.encode()))
    time.sleep(0.2)
    return sock


def fill_socket_buffers(stack: Stack, channel: str) -> None:
    """Publish filler until Redis itself holds output for the subscriber: the kernel's
    socket buffers are full, so what the workers publish next piles up in Redis."""
    connection = stack.server.client()
    for _ in range(512):  # 16 MiB at most
        connection.publish(channel, b"\0" * 32768)
        if any(int(client["omem"]) > 0 for client in stuck_client(stack)):
            return
    raise AssertionError("expected the subscriber's socket buffers to fill")


def followers(stack: Stack) -> int:
    """Clients reading a results stream (``--follow`` blocks in XREAD)."""
    return sum(client.get("cmd") == "xread" for client in stack.server.client().client_list())


def stuck_client(stack: Stack) -> list[dict[str, str]]:
    """The never-reading subscriber as CLIENT LIST shows it; empty once Redis dropped it."""
    return [c for c in stack.server.client().client_list() if c.get("name") == STUCK.decode()]


def command(*parts: bytes) -> bytes:
    """One command in Redis's wire protocol (RESP)."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
