"""Hosts in Linux network namespaces on one private LAN, made and removed by the caller.

Each host is a namespace with one ``eth0`` on ``SUBNET`` (a veth pair whose other end
sits on a bridge in a namespace of its own, the LAN's switch); processes run in it with
``ip netns exec`` and, through ``unshare --uts``, under the host's own name, so the RQ
workers of each host carry it in their names. The calling (root) namespace joins the LAN
as ``CONTROL_ADDRESS`` to read the hosts' metrics and Redis; no address outside the
subnet is routed, so the traffic stays between the namespaces the LAN made.

Needs root (``CAP_NET_ADMIN``) and iproute2; ``Lan.permitted`` says why not, if not.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

SUBNET = "10.77.0"
PREFIX_LENGTH = 24
CONTROL_ADDRESS = f"{SUBNET}.254"


def ip(*arguments: str) -> None:
    """``ip ARGUMENTS``; an error names the command and what it said."""
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(arguments)}: {done.stderr.strip() or done.returncode}")


@dataclass
class Lan:
    """Namespaced hosts named ``hosts`` (name -> last octet) on ``SUBNET``."""

    hosts: dict[str, int]
    tag: str = field(default_factory=lambda: f"fs{secrets.token_hex(2)}")
    made: list[str] = field(default_factory=list)  # namespaces, for the cleanup
    control_link: str = ""

    @staticmethod
    def permitted() -> str | None:
        """None if this process may make namespaces, else why not."""
        if shutil.which("ip") is None or shutil.which("unshare") is None:
            return "iproute2's ip and util-linux's unshare are needed for network namespaces"
        if os.geteuid() != 0:
            return "network namespaces need root (CAP_NET_ADMIN); running as a user"
        probe = f"fsprobe{secrets.token_hex(2)}"
        try:
            ip("netns", "add", probe)
        except OSError as exc:
            return f"`ip netns add` is not permitted here: {exc}"
        ip("netns", "del", probe)
        return None

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts[host]}"

    def create(self) -> Lan:
        switch = self.namespace("lan")
        self._add(switch)
        ip("-n", switch, "link", "add", "br0", "type", "bridge")
        ip("-n", switch, "link", "set", "br0", "up")
        for index, host in enumerate(self.hosts):
            namespace = self.namespace(host)
            self._add(namespace)
            port = f"p{index}"
            ip(
                "link",
                "add",
                "eth0",
                "netns",
                namespace,
                "type",
                "veth",
                "peer",
                port,
                "netns",
                switch,
            )
            self._join(switch, port)
            address = f"{self.address(host)}/{PREFIX_LENGTH}"
            ip("-n", namespace, "addr", "add", address, "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        self.control_link = f"{self.tag}c"
        ip("link", "add", self.control_link, "type", "veth", "peer", "pc", "netns", switch)
        self._join(switch, "pc")
        ip("addr", "add", f"{CONTROL_ADDRESS}/{PREFIX_LENGTH}", "dev", self.control_link)
        ip("link", "set", self.control_link, "up")
        return self

    def command(self, host: str, command: Sequence[str]) -> list[str]:
        """``command`` run on ``host``: in its namespace, under its host name."""
        return [
            *("ip", "netns", "exec", self.namespace(host)),
            *("unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh"),
            *command,
        ]

    def remove(self) -> None:
        """Delete every namespace made (their links go with them) and the control link."""
        for namespace in reversed(self.made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        self.made.clear()
        if self.control_link:
            subprocess.run(["ip", "link", "del", self.control_link], capture_output=True)
            self.control_link = ""

    def _add(self, namespace: str) -> None:
        ip("netns", "add", namespace)
        self.made.append(namespace)

    def _join(self, switch: str, port: str) -> None:
        ip("-n", switch, "link", "set", port, "master", "br0")
        ip("-n", switch, "link", "set", port, "up")

    def __enter__(self) -> Lan:
        try:
            return self.create()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *exc: object) -> None:
        self.remove()
