"""Publishing results: a pub/sub message for live consumers, a capped stream for late ones."""

from __future__ import annotations

import redis

from common import retention
from common.keys import results_channel, results_stream
from common.results import STREAM_FIELD
from common.wire import Result


def publish_result(
    pipeline: redis.client.Pipeline[bytes],
    prefix: str,
    result: Result,
    stream_maxlen: int,
    keep_seconds: int = 0,
) -> None:
    """Queue the result's PUBLISH and XADD on ``pipeline`` (the caller executes it); with
    ``keep_seconds``, the stream is trimmed to that age too and expires that long after
    this write (``common.retention``)."""
    payload = result.encode()
    stream = results_stream(prefix, result.camera_id)
    pipeline.publish(results_channel(prefix, result.camera_id), payload)
    pipeline.xadd(stream, {STREAM_FIELD: payload}, maxlen=stream_maxlen, approximate=True)
    retention.trim_stream(pipeline, stream, keep_seconds)
