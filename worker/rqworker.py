"""The RQ worker class: no fork per job, and only the project's own job functions run."""

from __future__ import annotations

import logging
from typing import Any

from rq import SimpleWorker
from rq.exceptions import DeserializationError
from rq.job import Job

from common.accounting import UNKNOWN_CAMERA
from common.defaults import DEFAULT_KEY_PREFIX
from common.errors import ForeignJobRefused
from worker.jobs import ALLOWED_JOBS, record_failure

log = logging.getLogger(__name__)


class FerWorker(SimpleWorker):
    """A ``SimpleWorker`` (the model stays loaded in this process) that refuses foreign jobs.

    A job naming any function outside ``ALLOWED_JOBS`` is failed before its module is
    imported or its arguments are read, and counted as ``failed:foreign_job``.
    """

    key_prefix = DEFAULT_KEY_PREFIX

    def perform_job(self, job: Job, queue: Any, execution: Any) -> bool:
        func_name = _func_name(job)
        if func_name in ALLOWED_JOBS:
            result: bool = super().perform_job(job, queue, execution)
            return result
        refusal = ForeignJobRefused(
            f"expected a job function among {sorted(ALLOWED_JOBS)}, got {func_name!r}: refused"
        )
        log.warning("job %s: %s", job.id, refusal)
        record_failure(self.connection, self.key_prefix, UNKNOWN_CAMERA, refusal.reason)
        self.handle_job_failure(
            job, queue, exc_string=f"ForeignJobRefused: {refusal}", execution=execution
        )
        return False


def _func_name(job: Job) -> str:
    try:
        return str(job.func_name)
    except DeserializationError:
        return "<undecodable job data>"
