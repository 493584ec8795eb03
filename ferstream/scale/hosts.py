"""Several ferstream hosts on one Redis: a broker host, worker hosts and a camera host,
each a network namespace on one private LAN (``ferstream.scale.netns``).

Each worker host runs its own ``ferstream worker`` pool with its own metrics endpoint
on the same port (9100: each host has its own port space); producers run on the camera
host; the broker host runs redis-server, optionally with the project's ACL users and TLS
(``Login``), every process then logging in as its role.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

from common.acl import PRODUCER, WORKER
from common.redis_access import RedisAccess, TlsOptions
from ferstream.scale.login import Login
from ferstream.scale.netns import Lan
from ferstream.scale.processes import Processes, RedisNode, produce_arguments

BROKER, CAMERAS = "broker", "cameras"
WORKER_HOSTS = ("host-a", "host-b")
LAN_HOSTS = {BROKER: 1, WORKER_HOSTS[0]: 11, WORKER_HOSTS[1]: 12, CAMERAS: 21}
REDIS_PORT = 6379
METRICS_PORT = 9100


@dataclass
class Hosts:
    """The LAN's processes: a broker, pools on worker hosts, cameras; logs in ``folder``."""

    folder: Path
    lan: Lan
    login: Login | None = None
    settings_env: dict[str, str] = field(default_factory=dict)  # FERSTREAM_* for all
    sessions: bool = True  # see ``Processes.sessions``
    broker: RedisNode | None = None
    processes: Processes = field(init=False)

    def __post_init__(self) -> None:
        self.processes = Processes(self.folder, {}, self.sessions)

    @property
    def url(self) -> str:
        scheme = "rediss" if self.login and self.login.tls else "redis"
        return f"{scheme}://{self.lan.address(BROKER)}:{REDIS_PORT}/0"

    def admin_access(self) -> RedisAccess:
        login = self.login
        if login is None:
            return RedisAccess(self.url)
        return RedisAccess(
            self.url, password=login.admin_password, tls=TlsOptions(ca_file=login.ca_file)
        )

    def start_broker(self) -> RedisNode:
        options = self.login.server_options(self.folder) if self.login else []
        self.broker = RedisNode(
            self.folder / BROKER,
            host=self.lan.address(BROKER),
            port=REDIS_PORT,
            options=options,
            namespace=self.lan.namespace(BROKER),
            tls=bool(self.login and self.login.tls),
            admin=self.admin_access(),
        ).start()
        return self.broker

    def admin(self) -> redis.Redis[bytes]:
        return self.admin_access().client(socket_timeout=5, socket_connect_timeout=2)

    def env(self, role: str) -> dict[str, str]:
        base = {
            "REDIS_URL": self.url,
            "FERSTREAM_METRICS_PORT": str(METRICS_PORT),
            "FERSTREAM_PRODUCER_METRICS_PORT": "0",
            **self.settings_env,
        }
        return {**base, **(self.login.env(role) if self.login else {})}

    def start_pool(self, host: str, concurrency: int, env: dict[str, str] | None = None) -> str:
        """``ferstream worker --concurrency N`` on ``host`` (``env`` added); its name."""
        name = f"pool-{host}"
        arguments = ["-v", "worker", "--concurrency", str(concurrency)]
        on = lambda command: self.lan.command(host, command)  # noqa: E731
        self.processes.start(name, arguments, {**self.env(WORKER), **(env or {})}, on)
        return name

    def start_camera(self, camera: str, data_dir: Path, fps: float, seconds: float) -> str:
        on = lambda command: self.lan.command(CAMERAS, command)  # noqa: E731
        arguments = produce_arguments(camera, data_dir, fps, seconds)
        self.processes.start(camera, arguments, self.env(PRODUCER), on)
        return camera

    def metrics_url(self, host: str) -> str:
        return f"http://{self.lan.address(host)}:{METRICS_PORT}/metrics"

    def scrape(self, host: str) -> dict[str, float]:
        """``host``'s pool endpoint: each sample name's total over its labels."""
        with urllib.request.urlopen(self.metrics_url(host), timeout=5) as response:
            text = response.read().decode()
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        return totals

    def rq_info(self) -> str:
        """RQ's own ``rq info`` on the broker, as an operator runs it (URL from the env)."""
        url = self.admin_access()
        login = self.login
        secret = f"default:{login.admin_password}@" if login else ""
        address = f"{self.lan.address(BROKER)}:{REDIS_PORT}/0"
        scheme = "rediss" if url.uses_tls else "redis"
        query = f"?ssl_ca_certs={login.ca_file}" if login and login.ca_file else ""
        env = {**os.environ, "RQ_REDIS_URL": f"{scheme}://{secret}{address}{query}"}
        rq = Path(sys.executable).with_name("rq")
        done = subprocess.run(
            [str(rq), "info", "--serializer", "common.serializer.MsgpackSerializer"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"rq info failed: {done.stderr[-500:]}")
        return done.stdout

    def stop(self) -> None:
        self.processes.stop()
        if self.broker is not None:
            self.broker.kill()
