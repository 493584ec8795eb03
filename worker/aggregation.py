"""Aggregate-only results: per camera, emotion counts per time window, published only
when at least k faces were seen in it (results mode ``aggregate``).

In this mode a processed frame publishes nothing of its own. Its faces are added, by
emotion, to its camera's window of ``aggregate_window`` seconds holding its capture time:
a hash in Redis (``common.keys.window_hash``), so every worker of a pool adds to the
same window, inside the settle MULTI that counts the frame. A window closes
``Settings.aggregate_grace`` seconds after it ends, once no frame captured in it can
still be settled. The closing script (atomic, so two workers never close a window
twice) publishes the window's counts as an ``Aggregate`` on the camera's aggregate
channel and stream if it saw at least ``aggregate_min_faces`` faces, and drops them
otherwise; either way the window's hash is deleted. A batch's settle closes its
cameras' windows; a worker's registry sweep closes those of cameras gone quiet.

A frame that settles after its window closed (a clock far off, a very late batch)
opens the window again, and it is closed again on its own: its faces are published
only if they alone reach k.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import redis

from common import retention
from common.keys import aggregate_channel, aggregate_stream, cameras_set, window_hash, windows_set
from common.results import AGGREGATE_FIELD
from common.settings import Settings
from common.wire import EMOTIONS, WIRE_VERSION, Result

if TYPE_CHECKING:
    Pipeline = redis.client.Pipeline[bytes]
else:
    Pipeline = Any

FACES = "faces"  # the window hash's field of all faces; one field per label besides
# An open window's keys outlive its close by this much, in case no worker closes it
UNCLOSED_EXTRA_SECONDS = 60

# KEYS: the camera's windows set and aggregate stream.
# ARGV: window hash prefix, camera, latest start to close, window seconds, k, now,
# stream maxlen, retention seconds, oldest stream id kept, wire version, labels, the
# stream entries' field, the aggregate channel (a channel, not a key: ACL checks keys).
# Returns {published, suppressed}.
_CLOSE = """
local starts = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local published, suppressed = 0, 0
local labels = tonumber(ARGV[11])
for _, start in ipairs(starts) do
  local key = ARGV[1] .. start
  local fields = {'faces'}
  for label = 0, labels - 1 do fields[label + 2] = tostring(label) end
  local values = redis.call('HMGET', key, unpack(fields))
  local faces = tonumber(values[1] or '0')
  if faces >= tonumber(ARGV[5]) then
    local counts = {}
    for label = 1, labels do counts[label] = tonumber(values[label + 1] or '0') end
    local message = {v = tonumber(ARGV[10]), cam = ARGV[2], start = tonumber(start),
                     faces = faces, n = counts, pub = tonumber(ARGV[6])}
    message['end'] = tonumber(start) + tonumber(ARGV[4])
    local payload = cmsgpack.pack(message)
    redis.call('PUBLISH', ARGV[13], payload)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', ARGV[12], payload)
    if tonumber(ARGV[8]) > 0 then
      redis.call('XTRIM', KEYS[2], 'MINID', ARGV[9])
      redis.call('EXPIRE', KEYS[2], ARGV[8])
    end
    published = published + 1
  else
    suppressed = suppressed + 1
  end
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], start)
end
return {published, suppressed}
"""


def window_start(captured_at: float, window: int) -> int:
    """The first second of the window of ``window`` seconds that holds ``captured_at``."""
    return int(captured_at // window) * window


def add_faces(pipeline: Pipeline, settings: Settings, result: Result) -> None:
    """Queue: count the result's faces, by emotion, in its camera's open window."""
    if not result.faces:
        return
    prefix, camera, window = settings.key_prefix, result.camera_id, settings.aggregate_window
    start = window_start(result.captured_at, window)
    key, starts = window_hash(prefix, camera, start), windows_set(prefix, camera)
    pipeline.hincrby(key, FACES, len(result.faces))
    for label, seen in Counter(face.label for face in result.faces).items():
        pipeline.hincrby(key, str(label), seen)
    pipeline.zadd(starts, {str(start): start})
    lifetime = window + settings.aggregate_grace + UNCLOSED_EXTRA_SECONDS
    retention.expire(pipeline, [key, starts], lifetime)


def close_due(
    client: redis.Redis[bytes] | Pipeline,
    settings: Settings,
    camera_id: str,
    now: float | None = None,
) -> Any:
    """Close every window of ``camera_id`` due at ``now`` (on a pipeline: queued); the
    script's reply is [published, suppressed]."""
    moment = time.time() if now is None else now
    prefix, window = settings.key_prefix, settings.aggregate_window
    keep = settings.results_retention
    latest = int(moment) - window - settings.aggregate_grace
    keys = [windows_set(prefix, camera_id), aggregate_stream(prefix, camera_id)]
    arguments = [
        window_hash(prefix, camera_id, 0)[:-1],  # the hash's name without its start
        camera_id,
        latest,
        window,
        settings.aggregate_min_faces,
        moment,
        settings.results_stream_maxlen,
        keep,
        retention.min_stream_id(moment, keep),
        WIRE_VERSION,
        len(EMOTIONS),
        AGGREGATE_FIELD,
        aggregate_channel(prefix, camera_id),
    ]
    return client.execute_command("EVAL", _CLOSE, len(keys), *keys, *arguments)


def close_all_due(
    connection: redis.Redis[bytes], settings: Settings, now: float | None = None
) -> list[tuple[int, int]]:
    """Close the due windows of every camera that submitted frames: one round trip after
    the cameras are read. Each camera's [published, suppressed], in ``cameras`` order."""
    members = connection.smembers(cameras_set(settings.key_prefix))
    cameras = sorted(each.decode(errors="replace") for each in members)
    return close_many(connection, settings, cameras, now)


def close_many(
    connection: redis.Redis[bytes],
    settings: Settings,
    cameras: Iterable[str],
    now: float | None = None,
) -> list[tuple[int, int]]:
    with connection.pipeline(transaction=False) as pipeline:
        for camera in cameras:
            close_due(pipeline, settings, camera, now)
        replies = pipeline.execute()
    return [(int(published), int(suppressed)) for published, suppressed in replies]
