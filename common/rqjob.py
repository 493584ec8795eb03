"""The RQ job class producers and workers share: frame data stored as is, not zlib'd.

RQ compresses every job's data with zlib each time it saves the job (at enqueue, and
again when a worker finishes it). A frame job's data is a JPEG, which zlib cannot
shrink: measured here, 0.7 ms of CPU per save for nothing. ``FrameJob`` stores the data
raw; RQ's own loader reads raw data as it is (it falls back when zlib refuses, and a
msgpack job tuple can never pass as a zlib stream: its first byte is 0x94, a zlib
stream's low nibble is 8), so plain ``Job`` readers (``rq info``, dashboards) still work.

RQ also sends an HTTP request to every webhook URL a job names when it finishes or
fails. Job hashes come from producers, so a hostile one could aim workers at any
internal address. ``FrameJob`` never sends them (workers also refuse such jobs).

Reading a job hash (``restore``) is where a hostile producer's bytes meet RQ, which
trusts them. It inflates any zlib stream it finds in ``data`` whatever its size (a 200 KB
stream of zeros takes 200 MB). A field it cannot parse (a status, a date, a number, JSON)
raises out of its dequeue; a duration no clock takes (a timeout over ``signal.alarm``'s
range) or dependencies that are not a list of job ids raise later, as the job is
handled: either stops the worker. ``FrameJob`` reads job data up to
``MAX_JOB_DATA_BYTES`` only, and a hash RQ cannot read, or whose durations or
dependencies are out of shape, becomes a job with RQ's defaults and a ``refusal``: the
error the worker fails it with, before anything it names is imported or its arguments
are read.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from typing import Any

from rq.job import Job, JobStatus

from common.errors import FerStreamError, ForeignJobRefused, InvalidFrame, describe, shorten

log = logging.getLogger(__name__)

# The one job function producers enqueue and workers run, by name (a producer never
# imports the worker, nor the model, to enqueue it).
PROCESS_FRAME = "worker.jobs.process_frame"
# A job's data (the serialized call, frame included) once inflated: 16 times the default
# frame limit (``max_frame_bytes``), far over any frame a worker accepts.
MAX_JOB_DATA_BYTES = 64 * 1024 * 1024
# The longest timeout or time to live a job may ask for (-1: none, as in RQ).
MAX_JOB_SECONDS = 366 * 24 * 3600
_DURATIONS = (
    "timeout",
    "result_ttl",
    "failure_ttl",
    "ttl",
    "success_callback_timeout",
    "failure_callback_timeout",
    "stopped_callback_timeout",
)


class FrameJob(Job):
    """An RQ ``Job`` whose saved ``data`` field is the serialized job, uncompressed, and
    whose reading survives any hash: ``refusal`` says why it must not run."""

    refusal: FerStreamError | None = None

    def restore(self, raw_data: Mapping[bytes | str, Any]) -> None:
        """RQ's reading of a job hash, for a hash anyone could have written."""
        fields = {_text(key): value for key, value in raw_data.items()}
        data: bytes = fields.pop("data", b"")
        fields.pop("exc_info", None)  # RQ's legacy failure text, inflated unbounded: unread
        try:
            super().restore({**fields, "data": b""})  # "": nothing for RQ to inflate
        except Exception as exc:  # RQ parses every field as if it trusted it
            self._refuse(
                ForeignJobRefused(
                    f"expected a job hash RQ can read, got one it cannot "
                    f"({type(exc).__name__}: {shorten(str(exc))}): refused"
                )
            )
        else:
            self._check_fields()
        inflated = _inflate(data)
        if inflated is None:
            self._refuse(
                InvalidFrame(
                    f"expected at most {MAX_JOB_DATA_BYTES} bytes of job data (once "
                    f"zlib-inflated), got more ({len(data)} stored): refused unread",
                    "too_large",
                )
            )
        self.data = inflated or b""

    def _check_fields(self) -> None:
        """What RQ parsed but never checks, and would fail on later: a duration no clock
        takes, dependency ids that are not a list of ids (RQ saves the first as is)."""
        for name in _DURATIONS:
            value = getattr(self, name)
            in_range = isinstance(value, int) and -1 <= value <= MAX_JOB_SECONDS
            if value is not None and not in_range:
                expected = f"the job's {name} in -1..{MAX_JOB_SECONDS} seconds"
                self._refuse(
                    ForeignJobRefused(f"expected {expected}, got {describe(value)}: refused")
                )
        ids = self._dependency_ids
        if not isinstance(ids, list) or not all(isinstance(each, str) for each in ids):
            expected = "the job's dependencies as a list of job ids"
            self._refuse(ForeignJobRefused(f"expected {expected}, got {describe(ids)}: refused"))

    def _refuse(self, error: FerStreamError) -> None:
        """Fail this job with ``error`` (the first one found), with RQ's defaults for what
        it uses of the hash: durations, dependencies."""
        if self.refusal is None:
            self.refusal = error
        self.timeout = self.result_ttl = self.failure_ttl = self.ttl = None
        self._success_callback_timeout = self._failure_callback_timeout = None
        self._stopped_callback_timeout = None
        self._dependency_ids = []

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
        data = self.data
        self._data = b""  # RQ compresses this; an empty payload costs nothing
        try:
            mapping: dict[str, Any] = super().to_dict(include_meta, include_result)
        finally:
            self._data = data
        mapping["data"] = data
        return mapping

    def send_webhooks(self, status: str | JobStatus, *, exc_string: str | None = None) -> None:
        if self.webhooks:
            log.warning(
                "job %s names %d webhooks: not sent (URLs from a job are not trusted)",
                self.id,
                len(self.webhooks),
            )


def _text(key: bytes | str) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)


def _inflate(data: bytes) -> bytes | None:
    """``data`` as RQ reads it (inflated if it is a whole zlib stream, else as it is), or
    None if that is over ``MAX_JOB_DATA_BYTES``: never inflated past the limit."""
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(data, MAX_JOB_DATA_BYTES + 1)
    except zlib.error:
        inflated = b""
    else:
        if len(inflated) > MAX_JOB_DATA_BYTES:
            return None
    read = inflated if inflater.eof else data  # not a whole zlib stream: RQ takes it raw
    return read if len(read) <= MAX_JOB_DATA_BYTES else None
