"""Workers on two hosts (network namespaces) serving one queue on a third, with the ACL
users and TLS: both hosts share the work, RQ's own CLI lists every worker, each host's
endpoint counts its share, and a host whose whole pool dies loses only the frames it
held, settled and counted as abandoned."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import redis
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.job import Job, JobStatus
from rq.queue import Queue

from common.acl import ROLES
from common.defaults import DEFAULT_KEY_PREFIX, DEFAULT_QUEUE_NAME
from common.results import RESULTS, read_feed
from common.serializer import MsgpackSerializer
from ferstream.scale.books import ledger, settled, workers_of
from ferstream.scale.hosts import BROKER, WORKER_HOSTS, Hosts, Login
from ferstream.scale.netns import Lan
from ferstream.scale.processes import wait_until
from tests.security.certificates import Authority

pytestmark = pytest.mark.slow

CAMERAS = ("cam-a", "cam-b")
FPS, SECONDS, KILL_AFTER = 12.0, 24.0, 8.0
PROCESSED = "ferstream_frames_processed_total"


def test_two_worker_hosts_serve_one_queue_and_a_dead_host_loses_only_what_it_held(
    lan: Lan, tmp_path: Path, fer_data_dir: Path
) -> None:
    authority = Authority(tmp_path)
    pair = authority.issue("broker", (lan.address(BROKER),))
    login = Login(
        admin_password=f"admin-{secrets.token_hex(12)}",
        passwords={role: f"{role}-{secrets.token_hex(12)}" for role in ROLES},
        ca_file=authority.ca_file,
        server_pair=(pair.cert, pair.key),
    )
    hosts = Hosts(tmp_path, lan, login)
    try:
        hosts.start_broker()
        run(hosts, fer_data_dir)
    finally:
        hosts.stop()


def run(hosts: Hosts, data_dir: Path) -> None:
    admin = hosts.admin()
    for host in WORKER_HOSTS:
        hosts.start_pool(host, 2)
    wait_until(lambda: len(workers_of(admin, DEFAULT_QUEUE_NAME)) >= 4, 240, "4 workers")
    names = {w.name for w in workers_of(admin, DEFAULT_QUEUE_NAME)}
    assert {name.split(".")[0] for name in names} == set(WORKER_HOSTS)  # 2 on each host
    listed = hosts.rq_info()
    assert all(name in listed for name in names), listed  # RQ's own CLI sees all four
    for camera in CAMERAS:
        hosts.start_camera(camera, data_dir, FPS, SECONDS)
    time.sleep(KILL_AFTER)

    shares = {host: hosts.scrape(host).get(PROCESSED, 0.0) for host in WORKER_HOSTS}
    doomed, survivor = WORKER_HOSTS[1], WORKER_HOSTS[0]
    gone = [name for name in names if name.startswith(f"{doomed}.")]
    wait_until(lambda: busy(admin, gone), 20, f"a worker of {doomed} with frames in hand")
    hosts.processes.kill_group(f"pool-{doomed}")  # the host's pool and its workers at once
    time.sleep(0.5)  # what its workers had already sent lands before the books are read
    held = sorted(
        member.decode().split(":")[0]
        for name in gone
        for member in admin.smembers(WORKER_EXECUTIONS_KEY_TEMPLATE.format(name))
    )
    intermediate = Queue(DEFAULT_QUEUE_NAME, connection=admin).intermediate_queue_key
    taken = admin.llen(intermediate)  # dequeued, not yet started (a survivor's too)

    for camera in CAMERAS:
        hosts.processes.running[camera].wait(timeout=SECONDS + 60)
    try:
        wait_until(lambda: settled(admin, DEFAULT_KEY_PREFIX, CAMERAS), 120, "all settled")
    except AssertionError as exc:
        books = {camera: ledger(admin, DEFAULT_KEY_PREFIX, camera) for camera in CAMERAS}
        waiting = admin.lrange(intermediate, 0, -1)
        raise AssertionError(f"{exc}: {books}; held {held}, intermediate {waiting}") from None

    books = {camera: ledger(admin, DEFAULT_KEY_PREFIX, camera) for camera in CAMERAS}
    by_host = results_by_host(hosts)
    survivor_count = hosts.scrape(survivor).get(PROCESSED, 0.0)
    abandoned = sum(each.counts.failed.get("abandoned", 0) for each in books.values())
    # a frame it had dequeued but not started whose job expired before RQ's one-minute
    # rule: counted expired by a survivor's sweep (worker.reaping.settle_expired)
    expired = sum(each.counts.dropped.get("expired", 0) for each in books.values())
    print(
        f"shares {shares}, results by host {by_host}, held {len(held)} + {taken} taken, "
        f"abandoned {abandoned}, expired {expired}, books {books}"
    )
    assert all(share > 0 for share in shares.values()), shares  # each host did its part
    assert survivor_count == by_host[survivor]  # its endpoint counts exactly its results
    assert shares[doomed] <= by_host[doomed]
    for camera, each in books.items():
        assert each.unaccounted == 0, (camera, each)  # the identity, per camera
        assert set(each.counts.failed) <= {"abandoned"}, (camera, each)
        # queue_full: the camera's bound, should the survivor fall behind on a busy machine
        assert set(each.counts.dropped) <= {"expired", "queue_full"}, (camera, each)
    # lost: only the frames the dead host held (started, or dequeued but not started)
    assert len(held) <= abandoned <= len(held) + taken
    assert abandoned + expired <= len(held) + taken
    jobs = Job.fetch_many(held, connection=admin, serializer=MsgpackSerializer)
    assert all(j is None or j.get_status(refresh=False) != JobStatus.STARTED for j in jobs)


def busy(admin: redis.Redis[bytes], names: list[str]) -> bool:
    """Whether one of the workers ``names`` has started jobs in hand."""
    keys = [WORKER_EXECUTIONS_KEY_TEMPLATE.format(name) for name in names]
    return any(admin.scard(key) for key in keys)


def results_by_host(hosts: Hosts) -> dict[str, int]:
    """Results stored per worker host (a worker's id starts with its host's name)."""
    counts = dict.fromkeys(WORKER_HOSTS, 0)
    for camera in CAMERAS:
        for _, result in read_feed(hosts.admin(), RESULTS, DEFAULT_KEY_PREFIX, camera):
            counts[result.worker_id.split(".")[0]] += 1
    return counts
