"""Fixtures for the worker tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from worker.pipeline import FramePipeline
from worker.runtime import install


@pytest.fixture
def batch_settings(frame_pipeline: FramePipeline) -> Iterator[Callable[..., None]]:
    """Change the installed pipeline's batch settings for one test, then put it back."""
    changes: dict[str, object] = {}

    def apply(**settings: object) -> None:
        changes.update(settings)
        install(replace(frame_pipeline, settings=frame_pipeline.settings.with_changes(**changes)))

    yield apply
    install(frame_pipeline)
