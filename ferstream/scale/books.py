"""A camera's books in Redis, as the scale scenarios judge them: counts and what waits."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from rq import Queue, Worker
from rq.worker import BaseWorker

from common.accounting import CameraCounts, read_counts
from common.keys import pending_list
from common.serializer import MsgpackSerializer

# ``ferstream produce``'s last line: what the producer itself saw accepted and refused
_PRODUCED = re.compile(r"submitted (\d+) frames \((\d+) failed\)")


@dataclass(frozen=True)
class Ledger:
    """A camera's counts and what still waits: the identity's two sides."""

    counts: CameraCounts
    pending: int

    @property
    def unaccounted(self) -> int:
        """submitted - (processed + dropped + failed) - pending: 0 when the books balance."""
        return self.counts.submitted - self.counts.settled - self.pending


def ledger(connection: redis.Redis[bytes], prefix: str, camera_id: str) -> Ledger:
    pending = int(connection.llen(pending_list(prefix, camera_id)))
    return Ledger(read_counts(connection, prefix, camera_id), pending)


def settled(connection: redis.Redis[bytes], prefix: str, cameras: Iterable[str]) -> bool:
    """Every camera's frames settled (nothing waits, nothing in flight) and exact."""
    try:
        books = [ledger(connection, prefix, camera) for camera in cameras]
    except redis.RedisError:
        return False
    return all(each.pending == 0 and each.unaccounted == 0 for each in books)


def produced(log: str) -> tuple[int, int]:
    """(accepted, failed) frames from a ``ferstream produce`` log; AssertionError if absent."""
    found = _PRODUCED.findall(log)
    if not found:
        raise AssertionError(f"expected the producer's closing line, got {log[-300:]!r}")
    accepted, failed = found[-1]
    return int(accepted), int(failed)


def workers_of(connection: redis.Redis[bytes], queue_name: str) -> list[BaseWorker]:
    queue = Queue(queue_name, connection=connection, serializer=MsgpackSerializer)
    return Worker.all(connection=connection, queue=queue)
