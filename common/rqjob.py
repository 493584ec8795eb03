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
"""

from __future__ import annotations

import logging
from typing import Any

from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

# The one job function producers enqueue and workers run, by name (a producer never
# imports the worker, nor the model, to enqueue it).
PROCESS_FRAME = "worker.jobs.process_frame"


class FrameJob(Job):
    """An RQ ``Job`` whose saved ``data`` field is the serialized job, uncompressed."""

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
