"""Per-camera frame accounting in Redis: submitted, processed, dropped and failed by reason.

At any time, per camera: submitted = processed + dropped + failed + still pending.
Producers count ``submitted``; workers count the rest. Frames whose camera cannot be
read (a message that fails the schema) are counted under ``UNKNOWN_CAMERA``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from common.keys import counts_hash, pending_list

UNKNOWN_CAMERA = "_unknown"
SUBMITTED = "submitted"
PROCESSED = "processed"


def dropped(reason: str) -> str:
    return f"dropped:{reason}"


EXPIRED = dropped("expired")  # the job expired unread: the worker skipped it, or none came
# The camera's pending ids whose job expired unread leave its list (and the queue) and
# are counted; returns how many frames still wait.
EXPIRED_PENDING_SCRIPT = """
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    redis.call('LREM', KEYS[1], 1, id)
    redis.call('LREM', KEYS[2], 1, id)
    redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  end
end
return redis.call('LLEN', KEYS[1])
"""


def failed(reason: str) -> str:
    return f"failed:{reason}"


def count(
    connection: redis.Redis[bytes] | redis.client.Pipeline[bytes],
    prefix: str,
    camera_id: str,
    outcome: str,
    amount: int = 1,
) -> None:
    """Add ``amount`` to one outcome of one camera."""
    connection.hincrby(counts_hash(prefix, camera_id), outcome, amount)


@dataclass(frozen=True)
class CameraCounts:
    camera_id: str
    submitted: int = 0
    processed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> int:
        return self.processed + sum(self.dropped.values()) + sum(self.failed.values())


def read_counts(connection: redis.Redis[bytes], prefix: str, camera_id: str) -> CameraCounts:
    """One camera's counters as they stand now."""
    return counts_from(camera_id, connection.hgetall(counts_hash(prefix, camera_id)))


def counts_from(camera_id: str, raw: dict[bytes, bytes]) -> CameraCounts:
    """A camera's counters from its hash's fields (as ``HGETALL`` returns them)."""
    values = {key.decode(): int(value) for key, value in raw.items()}
    return CameraCounts(
        camera_id=camera_id,
        submitted=values.get(SUBMITTED, 0),
        processed=values.get(PROCESSED, 0),
        dropped={k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("dropped:")},
        failed={k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("failed:")},
    )


def take_pending(
    connection: redis.Redis[bytes] | redis.client.Pipeline[bytes],
    prefix: str,
    camera_id: str,
    job_id: str,
) -> None:
    """A worker started this job: it no longer waits (see ``producer.backpressure``)."""
    connection.lrem(pending_list(prefix, camera_id), 1, job_id)
