"""The producer's own count of a camera's submitted frames, held against Redis's.

Redis replicates asynchronously: a master that dies (a Sentinel failover) may take with
it the last writes it acknowledged, and a restart without persistence takes them all.
A frame the producer saw accepted is then unknown to the new master: no job, and no
``submitted`` that would make it missing from the books. The producer knows better: each
enqueue's reply says the camera's ``submitted`` after it, so the next enqueue checks that
Redis has at least that many plus one. Where it has fewer, the difference is frames Redis
lost after accepting them: counted ``submitted`` again and ``failed:broker_lost`` in the
same MULTI, so submitted = processed + dropped + failed + pending holds on the new master,
with the loss named. Counts only grow otherwise (other producers of the camera, a retry
that landed twice), so a larger count is taken as the new mark, never as a loss.

A count the retention expired (its key untouched for ``results_retention``) is not a
loss: after such a gap the producer forgets its mark instead of checking it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import redis

from common.accounting import SUBMITTED, failed
from common.keys import counts_hash

log = logging.getLogger(__name__)

BROKER_LOST = "broker_lost"  # the counted reason of a frame Redis lost after accepting it

# Raise the camera's submitted to ARGV[2] if it is below; the shortfall is also counted
# under ARGV[3]. Returns {submitted now, frames found lost}.
_RECONCILE = """
local now = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local want = tonumber(ARGV[2])
if now < want then
  redis.call('HINCRBY', KEYS[1], ARGV[1], want - now)
  redis.call('HINCRBY', KEYS[1], ARGV[3], want - now)
  return {want, want - now}
end
return {now, 0}
"""


@dataclass
class _Mark:
    submitted: int  # the camera's count in Redis after this producer's last enqueue
    at: float  # time.monotonic() of that enqueue


@dataclass
class SubmittedTally:
    """Per camera, the ``submitted`` Redis last confirmed; ``lost`` found so far."""

    connection: redis.Redis[bytes]
    prefix: str
    retention: int = 0  # seconds counters live after their last write (0: for ever)
    lost: dict[str, int] = field(default_factory=dict)
    _marks: dict[str, _Mark] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._script = self.connection.register_script(_RECONCILE)

    def check(self, pipeline: redis.client.Pipeline[bytes], camera_id: str) -> int:
        """Queue on ``pipeline``, after its count of one more ``submitted``, the check of
        the camera's count; the index of its reply for ``confirm``."""
        mark = self._marks.get(camera_id)
        want = 0 if mark is None or self._expired(mark) else mark.submitted + 1
        self._script(
            keys=[counts_hash(self.prefix, camera_id)],
            args=[SUBMITTED, want, failed(BROKER_LOST)],
            client=pipeline,
        )
        return len(pipeline.command_stack) - 1

    def confirm(self, camera_id: str, reply: object) -> int:
        """Take the check's reply: the new mark; how many frames Redis had lost."""
        if not isinstance(reply, list) or len(reply) != 2:
            raise ValueError(f"expected the tally script's [submitted, lost], got {reply!r}")
        submitted, lost = int(reply[0]), int(reply[1])
        self._marks[camera_id] = _Mark(submitted, time.monotonic())
        if lost:
            self.lost[camera_id] = self.lost.get(camera_id, 0) + lost
            log.warning(
                "camera %s: Redis lost %d frames it had accepted (a failover or a restart "
                "without persistence): counted failed:%s",
                camera_id,
                lost,
                BROKER_LOST,
            )
        return lost

    def _expired(self, mark: _Mark) -> bool:
        return self.retention > 0 and time.monotonic() - mark.at >= self.retention
