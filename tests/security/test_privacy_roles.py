"""Strict privacy under the ACL users: every path it adds runs as its role, on a real
redis-server 7 with ``ferstream acl``'s users for strict settings, and Redis's ACL log
stays empty. The worker's persistence check passes as the worker user; the default
(non-strict) worker user may not read the configuration, and strict refuses to start
with it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from common.acl import PRODUCER, READER, WORKER
from common.connection import connect
from common.errors import PrivacyError
from common.persistence import check_frames_database
from common.results import read_aggregates, read_history
from common.settings import Settings
from producer.submit import FrameSubmitter
from tests.security.servers import SecureRedis
from tests.security.test_roles import CAMERA, fer_worker, frames
from worker import aggregation
from worker.pipeline import FramePipeline


def strict_settings(url: str, results_mode: str) -> Settings:
    return Settings(
        redis_url=url,
        privacy="strict",
        retention_seconds=60,
        results_mode=results_mode,
        max_pending_per_camera=100,
        max_frame_age=30.0,
    )


@pytest.mark.parametrize("results_mode", ["faces", "aggregate"])
def test_strict_privacy_runs_each_role_under_its_own_user(
    start_redis: Callable[..., SecureRedis],
    frame_pipeline: FramePipeline,
    fer_data_dir: Path,
    results_mode: str,
) -> None:
    server = start_redis(settings=strict_settings("redis://unused", results_mode))
    settings = strict_settings(server.url, results_mode)
    clients = {role: connect(server.access(role)) for role in (PRODUCER, WORKER, READER)}
    try:
        check_frames_database(clients[WORKER], settings.strict)  # CONFIG GET as the worker
        submitter = FrameSubmitter(clients[PRODUCER], settings)
        for frame in frames(fer_data_dir, 3):
            assert submitter.enqueue(frame) is not None
        blocking = FrameSubmitter(clients[PRODUCER], settings.with_changes(overflow_policy="block"))
        assert blocking.enqueue(frames(fer_data_dir, 1)[0]) is not None  # the full look

        fer_worker(clients[WORKER], settings, frame_pipeline).work(burst=True)
        due = time.time() + settings.aggregate_grace + settings.aggregate_window
        aggregation.close_all_due(
            clients[WORKER], settings.with_changes(aggregate_min_faces=1), due
        )

        reader = clients[READER]
        if results_mode == "faces":
            assert read_history(reader, settings.key_prefix, CAMERA)
        else:
            assert read_aggregates(reader, settings.key_prefix, CAMERA)
        assert server.acl_log() == []
    finally:
        for client in clients.values():
            client.close()


def test_the_default_worker_user_cannot_pass_the_strict_check(
    acl_redis: SecureRedis,
) -> None:
    worker: redis.Redis[bytes] = connect(acl_redis.access(WORKER))  # users for privacy off
    try:
        check_frames_database(worker, strict=False)  # off: logged, not refused
        with pytest.raises(PrivacyError, match=r"\+config\|get"):
            check_frames_database(worker, strict=True)
    finally:
        worker.close()
