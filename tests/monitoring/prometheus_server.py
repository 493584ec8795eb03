"""A real Prometheus for the monitoring tests: Debian's ``prometheus`` binary on a free
loopback port with a given config, and its HTTP API as Grafana reads it."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring import require_binary

WAIT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # Prometheus answers a bad query with 400 + JSON
        body = exc.read()
    answer: dict[str, Any] = json.loads(body)
    return answer


def query(base: str, expr: str) -> dict[str, Any]:
    return get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))


def wait_for(what: str, condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"expected {what} within {timeout:.0f}s")
        time.sleep(0.5)


def start_prometheus(stack: ExitStack, folder: Path, config: str) -> str:
    binary = require_binary("prometheus")
    (folder / "prometheus.yml").write_text(config)
    port = free_port()
    log = stack.enter_context((folder / "prometheus.log").open("wb"))
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.callback(stop, process)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited: {(folder / 'prometheus.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for("Prometheus to be ready", ready, timeout=30)
    return base


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
