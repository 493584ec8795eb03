"""Fixtures for the worker tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from worker.rqworker import FerWorker


@pytest.fixture
def batch_settings(worker: FerWorker) -> Callable[..., None]:
    """Change the test worker's batch settings (any ``Settings`` field) for one test."""

    def apply(**changes: object) -> None:
        worker.settings = worker.settings.with_changes(**changes)

    return apply
