"""Scenario 4: the Redis master SIGKILLed under load, with a replica and three sentinels
(the ACL users on the data nodes, a password on the sentinels): the replica is promoted,
every client reconnects on its own as its role's user, every frame is accounted."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferstream.scale.failover import FailoverPlan, run_failover
from ferstream.scale.processes import SYSTEM_REDIS_SERVER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not SYSTEM_REDIS_SERVER.is_file(),
        reason="needs Debian's redis-server 7 and redis-sentinel (apt-get install "
        "redis-server redis-sentinel; ./dev test does it as root)",
    ),
]

RECOVERY_TARGET_SECONDS = 10.0


def test_a_sentinel_failover_is_a_short_outage_with_exact_books(
    tmp_path: Path, fer_data_dir: Path
) -> None:
    report = run_failover(tmp_path, FailoverPlan(data_dir=fer_data_dir))
    print(report.to_json())

    assert report.promotion_seconds < RECOVERY_TARGET_SECONDS
    assert 0 < report.recovery_seconds < RECOVERY_TARGET_SECONDS
    assert report.workers_rode_through  # the same processes serve the new master
    assert report.reader_lines_after_failover > 0  # the reader resumed by itself
    assert report.secured and report.acl_denials_on_new_master == 0  # roles' users sufficed
    for camera in report.cameras:
        assert camera.unaccounted == 0, camera
        assert camera.pending == 0, camera
        # Redis knows every frame its producer saw accepted (lost ones counted as such),
        # and beyond them at most the submits whose reply the outage cut off
        known = camera.submitted
        assert camera.accepted_by_producer <= known, camera
        assert known <= camera.accepted_by_producer + camera.refused_during_outage, camera
        assert camera.results_after_failover > 0, camera  # its producer came back
        assert camera.tracks_after_failover > 0, camera  # so did the track service
