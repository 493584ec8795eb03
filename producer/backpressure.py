"""Bounded pending frames per camera, with an overflow policy.

Each camera may have at most ``max_pending`` frames waiting in the shared queue. When a
new frame would exceed that:

- ``drop_oldest`` (default): the camera's oldest waiting frame leaves the queue (the
  freshest frame wins); it is counted ``dropped:queue_full``.
- ``drop_new``: the new frame is not queued; it is counted ``dropped:queue_full``.
- ``block``: the producer waits until a worker takes one of the camera's frames.

A frame whose job expired unread (no worker reached it within its TTL, which strict
privacy keeps to max age + 5 s) is counted ``dropped:expired`` once its id is found on
its camera's pending list without a job: by the trim past the bound, or, for
``drop_new`` and ``block``, while the camera is full.

Every camera's share of the FIFO queue is capped, so a fast camera cannot push a slow
one's frames out of reach: a frame waits behind at most (cameras x max_pending) others.
Redis memory for queued frames is bounded the same way. A worker removes a job from
its camera's pending list when it starts it, so the list is exactly what still waits.
"""

from __future__ import annotations

import time

import redis

from common.accounting import EXPIRED, EXPIRED_PENDING_SCRIPT, dropped
from common.keys import counts_hash, pending_list
from common.settings import OVERFLOW_POLICIES

QUEUE_FULL = dropped("queue_full")
BLOCK_POLL_SECONDS = 0.01

# Take the camera's oldest pending ids off its list, as many as it holds past the bound;
# each one still in the RQ queue is taken out of it, its job deleted and counted. Ids a
# worker already took stay: the worker's start takes them off, and if the worker is gone
# a sweep settles them (RQ's stuck rule, or ``dropped:expired`` once their job is gone).
# An id a worker took whose job is gone (it expired unread, the worker skipped it) is
# counted here.
_TRIM = """
local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[1])
local dropped = 0
if excess <= 0 then return 0 end
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if excess <= 0 then break end
  if redis.call('LREM', KEYS[2], 1, id) == 1 then
    redis.call('LREM', KEYS[1], 1, id)
    redis.call('DEL', ARGV[2] .. id)
    redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
    dropped = dropped + 1
    excess = excess - 1
  elseif redis.call('EXISTS', ARGV[2] .. id) == 0 then
    redis.call('LREM', KEYS[1], 1, id)
    redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
    excess = excess - 1
  end
end
return dropped
"""


class PendingBound:
    """Applies the overflow policy for one Redis database, queue and key prefix."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        prefix: str,
        queue_key: str,
        job_key_prefix: str,
        max_pending: int,
        policy: str,
    ) -> None:
        if policy not in OVERFLOW_POLICIES:
            raise ValueError(f"expected an overflow policy in {OVERFLOW_POLICIES}, got {policy!r}")
        if max_pending < 1:
            raise ValueError(f"expected max_pending >= 1, got {max_pending}")
        self.connection = connection
        self.prefix = prefix
        self.queue_key = queue_key
        self.job_key_prefix = job_key_prefix
        self.max_pending = max_pending
        self.policy = policy
        self._trim = connection.register_script(_TRIM)
        self._pending = connection.register_script(EXPIRED_PENDING_SCRIPT)

    def pending(self, camera_id: str) -> int:
        """Frames of the camera waiting now (those whose job expired are counted and go)."""
        keys = [
            pending_list(self.prefix, camera_id),
            self.queue_key,
            counts_hash(self.prefix, camera_id),
        ]
        return int(self._pending(keys=keys, args=[self.job_key_prefix, EXPIRED]))

    def admit(self, camera_id: str, max_wait: float) -> bool:
        """Whether a new frame of ``camera_id`` may be queued now.

        ``block`` waits for room up to ``max_wait`` seconds (the frame's max age: after
        that it would be stale anyway).
        """
        if self.policy == "drop_oldest":
            return True
        deadline = time.monotonic() + max_wait
        while self.pending(camera_id) >= self.max_pending:
            if self.policy == "drop_new" or time.monotonic() > deadline:
                return False
            time.sleep(BLOCK_POLL_SECONDS)
        return True

    def track(self, pipeline: redis.client.Pipeline[bytes], camera_id: str, job_id: str) -> None:
        """Queue, on ``pipeline``, the new job's entry and the trim past the bound."""
        key = pending_list(self.prefix, camera_id)
        pipeline.rpush(key, job_id)
        self._trim(
            keys=[key, self.queue_key, counts_hash(self.prefix, camera_id)],
            args=[self.max_pending, self.job_key_prefix, QUEUE_FULL, EXPIRED],
            client=pipeline,
        )
