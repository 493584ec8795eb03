"""Publishing results: a pub/sub message for live consumers, a capped stream for late ones."""

from __future__ import annotations

import redis

from common.keys import results_channel, results_stream
from common.results import STREAM_FIELD
from common.wire import Result


def publish_result(
    pipeline: redis.client.Pipeline[bytes], prefix: str, result: Result, stream_maxlen: int
) -> None:
    """Queue the result's PUBLISH and XADD on ``pipeline`` (the caller executes it)."""
    payload = result.encode()
    pipeline.publish(results_channel(prefix, result.camera_id), payload)
    pipeline.xadd(
        results_stream(prefix, result.camera_id),
        {STREAM_FIELD: payload},
        maxlen=stream_maxlen,
        approximate=True,
    )
