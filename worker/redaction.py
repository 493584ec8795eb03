"""Taking a frame's pixels off its RQ job once a worker holds them (privacy ``strict``).

A frame job's ``data`` is the serialized call, the frame's JPEG included. A job that
ends is kept by RQ (failed ones for their failure TTL, finished ones for their result
TTL), and a started job whose worker dies is kept too, until a registry sweep fails it
as abandoned. Under strict privacy none of them may keep the image, so as a worker
starts a job (``worker.batch.start``, in the same round trip) it replaces the job's
data, in Redis and in the job object that RQ later saves, with the call without its
arguments: the function's name only (``REDACTED_FUNCTION`` for a job the worker
refuses). The frame's camera goes into the job's ``meta``, so a frame lost with its
worker is still counted for its camera, and its description is written anew from the
frame (a job's description is its producer's text, and RQ's default one is the call's
repr: the image's bytes, escaped). What the job keeps is its reason, never its image:
RQ's failure text, status, timestamps and the description (camera, frame number, size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rq.job import Job

from common.errors import FerStreamError, SchemaError
from common.rqjob import PROCESS_FRAME
from common.wire import Frame, check_camera_id

if TYPE_CHECKING:
    import redis

    Pipeline = redis.client.Pipeline[bytes]
else:
    Pipeline = Any

REDACTED_FUNCTION = "<redacted>"  # what a refused job's call becomes: its data is not kept
CAMERA_META = "camera"  # the job's meta field naming the camera of a redacted frame


REFUSED_DESCRIPTION = "refused job (its call is not kept)"


def redacted_data(job: Job, is_frame: bool) -> bytes:
    """The job's call without arguments, serialized as RQ stores it."""
    function = PROCESS_FRAME if is_frame else REDACTED_FUNCTION
    data: bytes = job.serializer.dumps((function, None, (), {}))
    return data


def redact(job: Job, frame: Frame | FerStreamError, camera_id: str, pipeline: Pipeline) -> None:
    """Replace ``job``'s data and description with the call without arguments and the
    frame's summary, in memory (what RQ saves later) and, queued on ``pipeline``, in
    Redis; note the camera in its meta."""
    strip(job, frame)
    job.meta = {CAMERA_META: camera_id}
    pipeline.hset(
        job.key,
        mapping={
            "data": job.data,
            "meta": job.serializer.dumps(job.meta),
            "description": job.description or "",
        },
    )


def strip(job: Job, frame: Frame | FerStreamError) -> None:
    """Replace ``job``'s data and description in memory only: RQ's next save of it
    writes no image."""
    is_frame = isinstance(frame, Frame)
    job.data = redacted_data(job, is_frame)
    job.description = summary(frame) if isinstance(frame, Frame) else REFUSED_DESCRIPTION


def summary(frame: Frame) -> str:
    """What a redacted frame job says of its frame: everything but the pixels."""
    return (
        f"process_frame camera={frame.camera_id} n={frame.frame_number} "
        f"{frame.width}x{frame.height} {frame.encoding} (pixels not kept)"
    )


def noted_camera(job: Job) -> str | None:
    """The camera ``redact`` noted in the job's meta, if it names a valid one."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    camera = meta.get(CAMERA_META)
    if not isinstance(camera, str):
        return None
    try:
        return check_camera_id(camera)
    except SchemaError:
        return None
