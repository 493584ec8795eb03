"""The scaling half of ``ferstream bench-scale``: one host with two worker processes
against two namespaced hosts with one each, on the same cores, the same Redis, the same
frames.

Layouts, on one ``ferstream.scale.hosts`` LAN with Redis on the broker host (no ACL or
TLS), each pool serving a queue of its own so both stay warm side by side (an idle
pool blocks in Redis and takes no CPU):

- ``one-host``: one pool of 2 processes on the broker host (Redis local to it);
- ``two-hosts``: one pool of 1 process on each of two worker hosts, over the LAN.

Every process uses one thread (``FERSTREAM_THREADS_PER_WORKER=1``), and every pool runs
in the benchmark's own session: with the kernel's autogroup scheduling each session gets
an equal share of a busy machine's CPU, so pools in sessions of their own would hand the
two-host layout two shares against one (measured here: 1.3-1.7x for nothing). A round stages
``frames`` synthetic-scene frames (4 cameras) in a queue no worker serves, then renames
it onto the layout's queue in one command: every waiting worker wakes at once and the
clock starts; it stops at the last result's publish time. Rounds alternate between the
layouts (the first layout alternating too), so a change in the machine's background
load falls on both. Nothing goes stale (max age 600 s) or is trimmed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from rq import Queue

from common.accounting import read_counts
from common.defaults import DEFAULT_KEY_PREFIX
from common.keys import counts_hash, results_stream
from common.results import RESULTS, read_feed
from common.serializer import MsgpackSerializer
from common.settings import Settings
from ferstream.scale.books import workers_of
from ferstream.scale.hosts import BROKER, LAN_HOSTS, WORKER_HOSTS, Hosts
from ferstream.scale.netns import Lan
from ferstream.scale.processes import wait_until
from producer.frames import CapturedFrame
from producer.sources import open_source
from producer.submit import FrameSubmitter

CAMERAS = 4  # each round's frames go round these many cameras, named afresh per round
STAGING_QUEUE = "ferstream-bench-staging"
SETTINGS_ENV = {
    "FERSTREAM_THREADS_PER_WORKER": "1",
    "FERSTREAM_MAX_FRAME_AGE": "600",
    "FERSTREAM_METRICS_PORT": "0",
}
LAYOUTS = {"one-host": {BROKER: 2}, "two-hosts": {WORKER_HOSTS[0]: 1, WORKER_HOSTS[1]: 1}}
READY_SECONDS = 240.0


@dataclass
class Round:
    layout: str
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


@dataclass
class ScalingResult:
    rounds: list[Round] = field(default_factory=list)

    def fps(self, layout: str) -> list[float]:
        return [r.fps for r in self.rounds if r.layout == layout]

    def median_fps(self, layout: str) -> float:
        return statistics.median(self.fps(layout))

    @property
    def ratio(self) -> float:
        """two-hosts / one-host, medians of their rounds."""
        return self.median_fps("two-hosts") / self.median_fps("one-host")

    @property
    def paired_ratios(self) -> list[float]:
        """two-hosts / one-host within each round (the two ran back to back)."""
        two, one = self.fps("two-hosts"), self.fps("one-host")
        return [a / b for a, b in zip(two, one, strict=True)]


def queue_of(layout: str) -> str:
    return f"ferstream-bench-{layout}"


def run_scaling(
    folder: Path,
    data_dir: Path,
    frames: int,
    rounds: int,
    say: Callable[[str], None] = print,
) -> ScalingResult:
    """``rounds`` measured rounds of each layout, alternating, after a warm-up of each."""
    result = ScalingResult()
    staged = _frames(data_dir, frames)
    with Lan(dict(LAN_HOSTS)) as lan:
        hosts = Hosts(folder, lan, settings_env=SETTINGS_ENV, sessions=False)
        try:
            hosts.start_broker()
            for layout in LAYOUTS:
                _start(hosts, layout)
            number = 0
            for layout in LAYOUTS:  # warm-up: first inferences, connections
                number += 1
                _round(hosts, layout, staged[: max(40, frames // 10)], number)
            for index in range(rounds):
                order = list(LAYOUTS) if index % 2 == 0 else list(reversed(LAYOUTS))
                for layout in order:
                    number += 1
                    seconds = _round(hosts, layout, staged, number)
                    result.rounds.append(Round(layout, len(staged), seconds))
                    say(f"  round {index + 1} {layout}: {len(staged) / seconds:.1f} frames/s")
        finally:
            hosts.stop()
    return result


def _frames(data_dir: Path, count: int) -> list[CapturedFrame]:
    source = open_source(f"scenes:{data_dir}", loop=True, data_dir=data_dir)
    try:
        return [next(source) for _ in range(count)]
    finally:
        source.close()


def _start(hosts: Hosts, layout: str) -> None:
    queue = queue_of(layout)
    for host, processes in LAYOUTS[layout].items():
        hosts.start_pool(host, processes, {"FERSTREAM_QUEUE_NAME": queue})
    wanted = sum(LAYOUTS[layout].values())
    admin = hosts.admin()
    wait_until(lambda: len(workers_of(admin, queue)) >= wanted, READY_SECONDS, "workers")


def _round(hosts: Hosts, layout: str, staged: list[CapturedFrame], number: int) -> float:
    """Stage ``staged`` frames, release them at once; seconds to the last result."""
    admin = hosts.admin()
    cameras = [f"bench-{number}-{index}" for index in range(CAMERAS)]
    settings = Settings(
        redis_url=hosts.url,
        queue_name=STAGING_QUEUE,
        max_frame_age=600.0,
        max_pending_per_camera=len(staged),
    )
    submitter = FrameSubmitter(admin, settings)
    for index, captured in enumerate(staged):
        camera = cameras[index % CAMERAS]
        submitter.submit(camera, index, captured, jpeg_quality=85, max_side=640)
    served = Queue(queue_of(layout), connection=admin, serializer=MsgpackSerializer)
    staging = Queue(STAGING_QUEUE, connection=admin, serializer=MsgpackSerializer)
    released = time.time()
    admin.rename(staging.key, served.key)  # type: ignore[no-untyped-call]
    wait_until(
        lambda: _processed(admin, cameras) >= len(staged), 600, "every staged frame processed"
    )
    last = max(
        result.published_at
        for camera in cameras
        for _, result in read_feed(admin, RESULTS, DEFAULT_KEY_PREFIX, camera)
    )
    for camera in cameras:  # what a round leaves: its results and counts
        admin.delete(
            results_stream(DEFAULT_KEY_PREFIX, camera), counts_hash(DEFAULT_KEY_PREFIX, camera)
        )
    return last - released


def _processed(connection: redis.Redis[bytes], cameras: list[str]) -> int:
    return sum(read_counts(connection, DEFAULT_KEY_PREFIX, c).processed for c in cameras)
