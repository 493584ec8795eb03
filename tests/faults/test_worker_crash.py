"""Scenario 1: a worker process SIGKILLed with a batch in hand."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.job import Job, JobStatus

from common.serializer import MsgpackSerializer
from tests.faults.harness import Stack, ledger, live_workers, settled, wait_until

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_batch_is_replaced_and_its_frames_settle_as_abandoned(
    make_stack: Callable[..., Stack],
) -> None:
    # more frames than two workers take, in batches of up to 16: a worker is always busy
    stack = make_stack(FERSTREAM_BATCH_MAX_FRAMES="16", FERSTREAM_MAX_PENDING_PER_CAMERA="32")
    stack.start_pool(2)
    stack.start_camera("cam-a", fps=150, seconds=15)
    connection = stack.server.client()

    name, pid, in_hand = wait_for_a_busy_worker(stack)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    gone = wait_until(
        lambda: not connection.exists(f"rq:worker:{name}"), 10, "its registration gone"
    )
    abandoned = wait_until(lambda: none_started(stack, in_hand), 20, "its jobs settled")
    wait_until(lambda: len(live_workers(connection)) >= 2, 60, "a replacement worker")
    stack.wait_cameras(60)
    # a job the worker had dequeued but not started (if the kill came just after its next
    # dequeue) is failed by RQ's sweep as stuck a minute after the sweep first sees it
    try:
        wait_until(lambda: settled(connection, ["cam-a"]), 90, "every frame settled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {ledger(connection, 'cam-a')}") from None

    books = ledger(connection, "cam-a")
    print(
        f"killed {name} with {len(in_hand)} started jobs; registration gone after {gone:.1f}s, "
        f"its jobs settled after {abandoned:.1f}s; {books}"
    )
    assert books.unaccounted == 0
    assert books.counts.failed.get("abandoned", 0) >= 1
    assert time.monotonic() - killed < 120
    registered = live_workers(connection)
    assert len(registered) == 2  # the replacement and the survivor; no stale registration
    assert all(worker.pid != pid for worker in registered)


def wait_for_a_busy_worker(stack: Stack) -> tuple[str, int, list[str]]:
    """A worker with started jobs: its name, pid and those jobs' ids."""
    connection = stack.server.client()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for worker in live_workers(connection):
            held = connection.smembers(WORKER_EXECUTIONS_KEY_TEMPLATE.format(worker.name))
            if held and worker.pid:
                return worker.name, worker.pid, [m.decode().split(":")[0] for m in held]
        time.sleep(0.002)
    raise AssertionError("expected a worker with started jobs within 30s")


def none_started(stack: Stack, job_ids: list[str]) -> bool:
    connection = stack.server.client()
    jobs = Job.fetch_many(job_ids, connection=connection, serializer=MsgpackSerializer)
    return all(job is None or job.get_status(refresh=False) != JobStatus.STARTED for job in jobs)
