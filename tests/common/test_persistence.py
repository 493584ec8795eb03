"""The frames database must keep nothing on disk: checked at worker start against a real
redis-server (one of its own: the test changes its persistence settings)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis

from common.errors import PrivacyError
from common.persistence import check_frames_database, persistence_of
from common.redis_server import EmbeddedRedis


@pytest.fixture(scope="module")
def own_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def own_redis(own_server: EmbeddedRedis) -> Iterator[redis.Redis[bytes]]:
    client: redis.Redis[bytes] = redis.Redis.from_url(own_server.url)
    try:
        yield client
    finally:
        client.config_set("appendonly", "no")
        client.config_set("save", "")
        client.close()


@pytest.mark.parametrize(
    ("config", "found"),
    [
        ({}, []),
        ({"save": "900 1"}, ["RDB snapshots (save '900 1')"]),
        ({"appendonly": "yes"}, ["an append-only file (appendonly yes)"]),
        (
            {"save": "60 100", "appendonly": "yes"},
            ["RDB snapshots (save '60 100')", "an append-only file (appendonly yes)"],
        ),
    ],
)
def test_what_the_server_writes_to_disk_is_named(
    own_redis: redis.Redis[bytes], config: dict[str, str], found: list[str]
) -> None:
    for name, value in config.items():
        own_redis.config_set(name, value)
    assert persistence_of(own_redis) == found


@pytest.mark.parametrize(
    ("config", "strict", "outcome"),
    [
        ({}, False, "quiet"),
        ({}, True, "quiet"),
        ({"save": "900 1"}, False, "warns"),
        ({"save": "900 1"}, True, "refuses"),
        ({"appendonly": "yes"}, False, "warns"),
        ({"appendonly": "yes"}, True, "refuses"),
    ],
)
def test_a_persisting_frames_database_is_warned_of_or_refused(
    own_redis: redis.Redis[bytes],
    caplog: pytest.LogCaptureFixture,
    config: dict[str, str],
    strict: bool,
    outcome: str,
) -> None:
    for name, value in config.items():
        own_redis.config_set(name, value)
    caplog.set_level(logging.WARNING, logger="common.persistence")

    if outcome == "refuses":
        with pytest.raises(PrivacyError, match="expected the frames database to keep nothing"):
            check_frames_database(own_redis, strict)
        return
    check_frames_database(own_redis, strict)

    warned = [r.getMessage() for r in caplog.records if r.name == "common.persistence"]
    assert bool(warned) == (outcome == "warns")


@pytest.mark.parametrize(("strict", "refused"), [(False, False), (True, True)])
def test_a_user_who_may_not_read_the_config_cannot_pass_strict(
    own_server: EmbeddedRedis,
    own_redis: redis.Redis[bytes],
    caplog: pytest.LogCaptureFixture,
    strict: bool,
    refused: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="common.persistence")
    own_redis.acl_setuser(
        "frames-worker",
        enabled=True,
        passwords=["+secret"],
        keys=["*"],
        commands=["+@all", "-config"],
    )
    worker = redis.Redis(
        host=own_server.host, port=own_server.port, username="frames-worker", password="secret"
    )  # the ACL role another part of issue 14 defines may lack +config|get
    try:
        if refused:
            with pytest.raises(PrivacyError, match=r"grant the worker's user \+config\|get"):
                check_frames_database(worker, strict)
        else:
            check_frames_database(worker, strict)
            assert "+config|get" in caplog.text
    finally:
        worker.close()
        own_redis.acl_deluser("frames-worker")
