"""The Sentinel failover scenario: a real pool, cameras, a reader and the track service
on a replicated Redis; the master SIGKILLed under load; what recovered, and how soon.

Every client finds the master through the sentinels (``common.sentinel``). Each
process logs in as its role's ACL user, and to the sentinels with their password. The books
are read on the new master once the cameras stopped: per camera, submitted =
processed + dropped + failed + pending, frames the old master took with it counted
``failed:broker_lost`` by their producer (``producer.tally``); the producer's own count
of frames Redis accepted is held against the new master's ``submitted``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.acl import PRODUCER, READER, TRACKER, WORKER
from common.defaults import DEFAULT_KEY_PREFIX, DEFAULT_QUEUE_NAME
from common.results import RESULTS, TRACKS, read_feed
from ferstream.scale.books import Ledger, ledger, produced, settled, workers_of
from ferstream.scale.login import Login
from ferstream.scale.processes import Processes, produce_arguments, wait_until
from ferstream.scale.sentinels import DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS, ReplicatedRedis
from producer.tally import BROKER_LOST

READY_SECONDS = 180.0  # a pool loading its model on a busy two-core machine
SETTLE_SECONDS = 120.0


@dataclass(frozen=True)
class FailoverPlan:
    data_dir: Path
    cameras: tuple[str, ...] = ("cam-a", "cam-b")
    fps: float = 10.0
    seconds: float = 24.0  # each camera's run
    kill_after: float = 8.0  # seconds into the cameras' run
    workers: int = 2
    secured: bool = True  # the ACL users on the data nodes, a password on the sentinels


@dataclass
class CameraOutcome:
    camera: str
    accepted_by_producer: int  # the producer's own count of frames Redis accepted
    refused_during_outage: int  # submits that failed: never in the books
    submitted: int  # on the new master, after the run
    processed: int
    dropped: dict[str, int]
    failed: dict[str, int]
    pending: int
    unaccounted: int
    lost_by_replication: int  # failed:broker_lost
    results_after_failover: int
    tracks_after_failover: int


@dataclass
class FailoverReport:
    promotion_seconds: float  # SIGKILL -> every sentinel names the replica
    recovery_seconds: float  # SIGKILL -> first result of a frame captured after it
    settle_seconds: float  # cameras stopped -> every frame settled on the new master
    workers_rode_through: bool  # the same worker processes serve the new master
    reader_lines_after_failover: int
    secured: bool  # ACL users and a sentinel password
    acl_denials_on_new_master: int  # ACL LOG entries: commands or logins refused
    down_after_ms: int = DOWN_AFTER_MS
    failover_timeout_ms: int = FAILOVER_TIMEOUT_MS
    cameras: list[CameraOutcome] = field(default_factory=list)

    @property
    def unaccounted(self) -> int:
        return sum(abs(camera.unaccounted) for camera in self.cameras)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "unaccounted": self.unaccounted}


def run_failover(folder: Path, plan: FailoverPlan) -> FailoverReport:
    """Run the scenario in ``folder`` (logs, configs); everything stopped on return."""
    login = Login.fresh() if plan.secured else None
    sentinel_password = f"sentinel-{secrets.token_hex(12)}" if plan.secured else None
    cluster = ReplicatedRedis(folder, sentinel_password, login)
    env = {"FERSTREAM_METRICS_PORT": "0", "FERSTREAM_PRODUCER_METRICS_PORT": "0"}
    processes: Processes | None = None
    try:
        cluster.start()
        processes = Processes(folder, {**cluster.env(), **env})
        return _run(cluster, processes, plan, login)
    finally:
        if processes is not None:
            processes.stop()
        cluster.stop()


def _run(
    cluster: ReplicatedRedis, processes: Processes, plan: FailoverPlan, login: Login | None
) -> FailoverReport:
    def as_role(role: str) -> dict[str, str]:
        return login.env(role) if login else {}

    master = cluster.master.client()
    processes.start("pool", ["-v", "worker", "--concurrency", str(plan.workers)], as_role(WORKER))
    wait_until(
        lambda: len(workers_of(master, DEFAULT_QUEUE_NAME)) >= plan.workers,
        READY_SECONDS,
        "the workers listening",
    )
    pids = {worker.pid for worker in workers_of(master, DEFAULT_QUEUE_NAME)}
    processes.start("track", ["track", "--metrics-port", "0"], as_role(TRACKER))
    reading = ["results", "--camera", plan.cameras[0], "--follow"]
    processes.start("reader", reading, as_role(READER))
    for camera in plan.cameras:
        producing = produce_arguments(camera, plan.data_dir, plan.fps, plan.seconds)
        processes.start(camera, producing, as_role(PRODUCER))
    time.sleep(plan.kill_after)

    cluster.master.kill()
    killed_at, killed = time.time(), time.monotonic()
    wait_until(cluster.promoted, 60, "the sentinels to promote the replica")
    promotion = time.monotonic() - killed
    for camera in plan.cameras:
        processes.running[camera].wait(timeout=plan.seconds + 120)
    new = cluster.replica.client()
    stopped = time.monotonic()
    wait_until(lambda: settled(new, DEFAULT_KEY_PREFIX, plan.cameras), SETTLE_SECONDS, "settled")
    settle = time.monotonic() - stopped

    outcomes = [_camera(new, processes, camera, killed_at) for camera in plan.cameras]
    first = _first_fresh_result(new, plan.cameras, killed_at)
    after = {worker.pid for worker in workers_of(new, DEFAULT_QUEUE_NAME)}
    return FailoverReport(
        promotion_seconds=round(promotion, 2),
        recovery_seconds=round(first - killed_at, 2),
        settle_seconds=round(settle, 2),
        workers_rode_through=after == pids and "exited with" not in processes.log("pool"),
        reader_lines_after_failover=_reader_lines_after(processes.log("reader"), killed_at),
        secured=login is not None,
        acl_denials_on_new_master=len(new.acl_log()) if login else 0,
        cameras=outcomes,
    )


def _camera(new: Any, processes: Processes, camera: str, killed_at: float) -> CameraOutcome:
    books: Ledger = ledger(new, DEFAULT_KEY_PREFIX, camera)
    accepted, refused = produced(processes.log(camera))
    results = read_feed(new, RESULTS, DEFAULT_KEY_PREFIX, camera)
    tracks = read_feed(new, TRACKS, DEFAULT_KEY_PREFIX, camera)
    return CameraOutcome(
        camera=camera,
        accepted_by_producer=accepted,
        refused_during_outage=refused,
        submitted=books.counts.submitted,
        processed=books.counts.processed,
        dropped=books.counts.dropped,
        failed=books.counts.failed,
        pending=books.pending,
        unaccounted=books.unaccounted,
        lost_by_replication=books.counts.failed.get(BROKER_LOST, 0),
        results_after_failover=sum(r.captured_at > killed_at for _, r in results),
        tracks_after_failover=sum(t.captured_at > killed_at for _, t in tracks),
    )


def _first_fresh_result(new: Any, cameras: tuple[str, ...], killed_at: float) -> float:
    """When the first result of a frame captured after ``killed_at`` was published."""
    published = [
        result.published_at
        for camera in cameras
        for _, result in read_feed(new, RESULTS, DEFAULT_KEY_PREFIX, camera)
        if result.captured_at > killed_at
    ]
    if not published:
        raise AssertionError("expected results of frames captured after the failover, got none")
    return min(published)


def _reader_lines_after(log: str, killed_at: float) -> int:
    """Results ``ferstream results --follow`` printed for frames captured after the kill."""
    count = 0
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                count += json.loads(line).get("captured_at", 0) > killed_at
            except ValueError:
                continue
    return count
