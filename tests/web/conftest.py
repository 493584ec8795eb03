"""The live view's fixtures: a running service on the test Redis, a free port, and
Debian's chromium for pytest-playwright (its own browser download cannot work here)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from common.settings import Settings
from web.server import WebService, background

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.with_changes(web_port=free_port())


@pytest.fixture
def live(web_settings: Settings, redis_conn: Any) -> Iterator[WebService]:
    """``ferstream web``'s service in this process, on the flushed test database."""
    with background(web_settings) as service:
        yield service


def chromium() -> str | None:
    for path in CHROMIUM_PATHS:
        if shutil.which(path):
            return path
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches Debian's chromium (``./dev`` installs it)."""
    path = chromium()
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": path, "args": ["--no-sandbox"]}
