"""How long results and counters stay in Redis (``Settings.results_retention``).

With a retention of R seconds (0: no limit), every write to a camera's results stream,
aggregate stream or counters also sets the key to expire R seconds later, so a camera
that stops leaves nothing behind after R; and every append to a stream trims it by age
(``XTRIM ... MINID``: entries whose id, the Redis server's millisecond clock when it was
added, is older than R) as well as by length (``MAXLEN``). The commands go on the
caller's pipeline: the worker's settle MULTI, a producer's submit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    Pipeline = redis.client.Pipeline[bytes]
else:
    Pipeline = Any


def min_stream_id(now: float, retention: int) -> str:
    """The oldest stream entry id kept at unix time ``now`` with ``retention`` seconds."""
    return f"{max(0, int((now - retention) * 1000))}-0"


def expire(pipeline: Pipeline, keys: Iterable[str], retention: int) -> None:
    """Queue: each key expires ``retention`` seconds from now (0: left as it is)."""
    if retention > 0:
        for key in keys:
            pipeline.expire(key, retention)


def trim_stream(pipeline: Pipeline, key: str, retention: int, now: float | None = None) -> None:
    """Queue: drop the stream's entries older than ``retention``, and expire the stream
    ``retention`` after this write (0: neither)."""
    if retention > 0:
        moment = time.time() if now is None else now
        pipeline.xtrim(key, minid=min_stream_id(moment, retention), approximate=False)
        pipeline.expire(key, retention)


def oldest_entry_ages(connection: redis.Redis[bytes], keys: Sequence[str]) -> list[float | None]:
    """Seconds since the first entry of each stream was added, by the Redis server's clock
    (None: the stream is empty or gone): one round trip."""
    if not keys:
        return []
    with connection.pipeline(transaction=False) as pipeline:
        pipeline.time()
        for key in keys:
            pipeline.xrange(key, count=1)
        replies = pipeline.execute()
    seconds, micros = replies[0]
    now_ms = seconds * 1000 + micros / 1000
    return [_age(entries, now_ms) for entries in replies[1:]]


def _age(entries: list[tuple[bytes, Any]], now_ms: float) -> float | None:
    if not entries:
        return None
    entry_id = entries[0][0]
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return max(0.0, (now_ms - int(text.split("-", 1)[0])) / 1000)
