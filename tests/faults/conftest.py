"""Fixtures of the fault scenarios: a private redis-server per test and a stack on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import RedisProcess, Stack


@pytest.fixture
def make_stack(tmp_path: Path, fer_data_dir: Path) -> Iterator[object]:
    """Build a ``Stack`` on a fresh server (``appendonly``: AOF everysec); stopped after."""
    made: list[Stack] = []

    def build(appendonly: bool = False, options: list[str] | None = None, **env: str) -> Stack:
        server = RedisProcess(tmp_path, appendonly=appendonly, options=options or []).start()
        stack = Stack(server, tmp_path, fer_data_dir, env)
        made.append(stack)
        return stack

    yield build
    for stack in made:
        stack.stop()
        stack.server.kill()
