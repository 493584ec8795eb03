"""Bad frames mixed into a soak's load: every ``every``-th frame of each camera is a bad
one, of each kind in turn, and must fail under its bounded reason.

==================  ===========================================  =======================
kind                what the job carries                         counted (camera)
==================  ===========================================  =======================
``truncated_jpeg``  a scene's JPEG cut in half                   failed:truncated (own)
``garbage_bytes``   random bytes labelled ``jpeg``               failed:decode (own)
``wrong_schema``    a frame message whose width is text          failed:schema (_unknown)
==================  ===========================================  =======================

A message that fails the schema names no camera a worker can trust, so workers count it
under ``UNKNOWN_CAMERA``. ``FrameSubmitter`` cannot build such a message; the soak
enqueues it as a producer outside this project would, and counts it submitted under
``UNKNOWN_CAMERA`` too, so that every camera's identity can hold exactly.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import msgpack
import redis

from common.accounting import SUBMITTED, UNKNOWN_CAMERA, count
from common.errors import BrokerUnavailable, FerStreamError
from common.rqjob import PROCESS_FRAME
from common.wire import Frame
from ferstream.bench.results import Reasons
from ferstream.bench.scenes import LabelledFrame
from producer.submit import FrameSubmitter

log = logging.getLogger(__name__)

# kind -> the reason a worker must count it failed under
KINDS: dict[str, str] = {
    "truncated_jpeg": "truncated",
    "garbage_bytes": "decode",
    "wrong_schema": "schema",
}
DEFAULT_BAD_EVERY = 100
GARBAGE_BYTES = 4096


def truncated_jpeg(scene: LabelledFrame, camera: str, number: int) -> Frame:
    """The scene's frame with only the first half of its JPEG: header intact, no end."""
    frame = scene.to_frame(camera, number, time.time())
    return replace(frame, image=scene.jpeg[: len(scene.jpeg) // 2])


def garbage_bytes(scene: LabelledFrame, camera: str, number: int, rng: random.Random) -> Frame:
    """The scene's frame whose image is random bytes (never starting like a JPEG)."""
    frame = scene.to_frame(camera, number, time.time())
    return replace(frame, image=b"\x00" + rng.randbytes(GARBAGE_BYTES - 1))


def wrong_schema(scene: LabelledFrame, camera: str, number: int) -> bytes:
    """The scene's wire message with its width as text: valid msgpack, not a ``Frame``."""
    message = msgpack.unpackb(scene.to_frame(camera, number, time.time()).encode(), raw=False)
    message["w"] = str(message["w"])
    packed: bytes = msgpack.packb(message, use_bin_type=True)
    return packed


def enqueue_message(submitter: FrameSubmitter, payload: bytes) -> str:
    """A frame job carrying ``payload`` as is, counted submitted under ``UNKNOWN_CAMERA``."""
    settings = submitter.settings
    pipeline = submitter.connection.pipeline()
    job = submitter.queue.enqueue_call(
        PROCESS_FRAME,
        args=(payload,),
        ttl=settings.queued_job_ttl,
        result_ttl=settings.job_result_ttl,
        failure_ttl=settings.job_failure_ttl,
        description=f"soak: a message that fails the schema, {len(payload)} bytes",
        pipeline=pipeline,
    )
    count(pipeline, settings.key_prefix, UNKNOWN_CAMERA, SUBMITTED)
    pipeline.execute()
    return str(job.id)


class BadFrameMixer:
    """A ``FrameSink`` (``LoadDriver.produce``): submits each camera's frames as a producer
    does, every ``every``-th one a bad frame of the next kind; counts what it injected."""

    def __init__(self, every: int = DEFAULT_BAD_EVERY, seed: int = 0) -> None:
        if every < 2:
            raise FerStreamError(f"bad frame interval: expected >= 2 frames, got {every}")
        self.every = every
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._turn = 0
        self._injected: Counter[str] = Counter()  # by the reason they must fail under
        self._errors = 0

    def submit(
        self, submitter: FrameSubmitter, camera: str, number: int, frame: LabelledFrame
    ) -> None:
        if (number + 1) % self.every:
            self._send(lambda: submitter.enqueue(frame.to_frame(camera, number, time.time())))
            return
        kind = self._next_kind()
        if self._send(lambda: self._inject(submitter, kind, camera, number, frame)):
            with self._lock:
                self._injected[KINDS[kind]] += 1

    def injected(self) -> Reasons:
        """Bad frames queued so far, by the reason each must be counted failed under."""
        with self._lock:
            return dict(self._injected)

    def submit_errors(self) -> int:
        """Frames Redis refused so far (none reached the queue)."""
        with self._lock:
            return self._errors

    def _next_kind(self) -> str:
        with self._lock:
            kind = list(KINDS)[self._turn % len(KINDS)]
            self._turn += 1
            return kind

    def _inject(
        self, submitter: FrameSubmitter, kind: str, camera: str, number: int, scene: LabelledFrame
    ) -> str | None:
        if kind == "wrong_schema":
            return enqueue_message(submitter, wrong_schema(scene, camera, number))
        if kind == "garbage_bytes":
            with self._lock:
                bad = garbage_bytes(scene, camera, number, self._rng)
        else:
            bad = truncated_jpeg(scene, camera, number)
        return submitter.enqueue(bad)  # None: the overflow policy turned it away

    def _send(self, send: Callable[[], str | None]) -> bool:
        """Run ``send``; whether it queued a frame. A Redis failure is counted, not raised:
        the soak goes on and reports it."""
        try:
            return send() is not None
        except (BrokerUnavailable, redis.RedisError, OSError) as exc:
            log.warning("a soak frame was not submitted: %s", exc)
            with self._lock:
                self._errors += 1
            return False
