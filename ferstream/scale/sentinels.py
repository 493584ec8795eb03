"""A replicated Redis watched by Sentinel on loopback: one master, one replica and three
sentinels, each a real Debian ``redis-server`` / ``redis-sentinel`` 7 process.

The sentinels' timeouts are tuned down from Redis's defaults (30 s to call a master down,
a 3 min failover timeout) so a dead master is replaced within a few seconds:

- ``down-after-milliseconds 1000``: a master silent for 1 s is subjectively down; two of
  the three sentinels (the quorum) agreeing make it objectively down, and one of them,
  elected by a majority, promotes the replica.
- ``failover-timeout 5000``: a failover that stalls is tried again after 5 s (and the
  same master is not failed over again within twice that).
- ``parallel-syncs 1``: one replica at a time resyncs with the new master.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis

from common.redis_access import RedisAccess
from common.redis_server import free_port
from ferstream.scale.login import Login
from ferstream.scale.processes import RedisNode, system_redis_server, wait_until

MASTER_NAME = "ferstream"
HOST = "127.0.0.1"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
READY_SECONDS = 30.0  # sentinels find each other on the master's hello channel (every 2 s)


def sentinel_command(config: Path) -> list[str]:
    """Debian's ``redis-sentinel``, else its ``redis-server`` in sentinel mode."""
    found = shutil.which("redis-sentinel")
    if found:
        return [found, str(config)]
    return [str(system_redis_server()), str(config), "--sentinel"]


class SentinelNode:
    """One sentinel watching ``MASTER_NAME``; it rewrites its config as it learns."""

    def __init__(
        self,
        folder: Path,
        master_port: int,
        password: str | None = None,
        auth_pass: str | None = None,
    ) -> None:
        self.folder = folder
        self.port = free_port(HOST)
        self.config = folder / f"sentinel-{self.port}.conf"
        lines = [
            f"port {self.port}",
            f"bind {HOST}",
            f"dir {folder}",
            f"sentinel monitor {MASTER_NAME} {HOST} {master_port} {QUORUM}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]
        if auth_pass is not None:  # the data nodes' admin: sentinels watch and reconfigure them
            lines.append(f"sentinel auth-pass {MASTER_NAME} {auth_pass}")
        if password is not None:
            lines.append(f"requirepass {password}")
        self.config.write_text("\n".join(lines) + "\n")
        self.config.chmod(0o600)
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SentinelNode:
        log = (self.folder / f"sentinel-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            sentinel_command(self.config), stdout=log, stderr=subprocess.STDOUT
        )
        wait_until(self._answers, 10.0, "redis-sentinel to answer PING")
        return self

    def client(self) -> redis.Redis[bytes]:
        return redis.Redis(HOST, self.port, password=self.password, socket_timeout=2)

    def master(self) -> dict[str, object]:
        """``SENTINEL MASTER``: what this sentinel holds of the master."""
        state: dict[str, object] = self.client().sentinel_master(MASTER_NAME)  # type: ignore[no-untyped-call]
        return state

    def master_port(self) -> int | None:
        address = self.client().sentinel_get_master_addr_by_name(MASTER_NAME)  # type: ignore[no-untyped-call]
        return int(address[1]) if address else None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False


@dataclass
class ReplicatedRedis:
    """A master, its replica and three sentinels, all on 127.0.0.1."""

    folder: Path
    sentinel_password: str | None = None
    login: Login | None = None  # the ACL users on master and replica (None: no auth)
    master: RedisNode = field(init=False)
    replica: RedisNode = field(init=False)
    sentinels: list[SentinelNode] = field(init=False, default_factory=list)

    def start(self) -> ReplicatedRedis:
        self.master = self._node("master", []).start()
        self.replica = self._node("replica", [f"replicaof {HOST} {self.master.port}"]).start()
        wait_until(self._replica_online, READY_SECONDS, "the replica in sync with the master")
        admin = self.login.admin_password if self.login else None
        for _ in range(3):
            self.sentinels.append(
                SentinelNode(self.folder, self.master.port, self.sentinel_password, admin).start()
            )
        wait_until(self._watched, READY_SECONDS, "three sentinels that see each other")
        return self

    def _node(self, name: str, config: list[str]) -> RedisNode:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        if self.login is None:
            return RedisNode(folder, config=config)
        # the replica (and any promoted node's replicas) replicate as the admin
        config = [*config, f"masterauth {self.login.admin_password}"]
        node = RedisNode(folder, options=self.login.server_options(folder), config=config)
        node.admin = RedisAccess(node.url, password=self.login.admin_password)
        return node

    def role_env(self, role: str) -> dict[str, str]:
        """``env`` plus ``role``'s ACL user and password, if the nodes have users."""
        return {**self.env(), **(self.login.env(role) if self.login else {})}

    @property
    def addresses(self) -> str:
        """``FERSTREAM_REDIS_SENTINELS``."""
        return ",".join(f"{HOST}:{sentinel.port}" for sentinel in self.sentinels)

    def env(self) -> dict[str, str]:
        """What makes a ferstream process find the master through the sentinels."""
        env = {
            "REDIS_URL": f"redis://{MASTER_NAME}/0",
            "FERSTREAM_REDIS_SENTINELS": self.addresses,
            "FERSTREAM_REDIS_SENTINEL_MASTER": MASTER_NAME,
        }
        if self.sentinel_password is not None:
            env["FERSTREAM_REDIS_SENTINEL_PASSWORD"] = self.sentinel_password
        return env

    def promoted(self) -> bool:
        """Every sentinel names the former replica as the master."""
        try:
            return all(s.master_port() == self.replica.port for s in self.sentinels)
        except redis.RedisError:
            return False

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.kill()
        for name in ("replica", "master"):
            node = getattr(self, name, None)
            if node is not None:
                node.kill()

    def _replica_online(self) -> bool:
        info = self.master.client().info("replication")
        return int(info.get("connected_slaves", 0)) == 1 and "online" in str(info.get("slave0"))

    def _watched(self) -> bool:
        try:
            states = [sentinel.master() for sentinel in self.sentinels]
        except redis.RedisError:
            return False
        return all(
            int(str(state["num-other-sentinels"])) == 2 and int(str(state["num-slaves"])) == 1
            for state in states
        )
