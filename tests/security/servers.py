"""A real redis-server 7 (Debian's ``/usr/bin/redis-server``) with the project's ACL users,
an admin, and optionally TLS with certificates a test made itself."""

from __future__ import annotations

import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from common.acl import ROLES, acl_file, password_hash
from common.redis_access import RedisAccess, TlsOptions
from common.settings import Settings
from ferstream.scale.processes import RedisNode
from tests.security.certificates import Authority, Pair

SYSTEM_REDIS_SERVER = Path("/usr/bin/redis-server")
MIN_VERSION = (7, 0)
HOST = "127.0.0.1"
SERVER_HOSTS = ("localhost", HOST)  # the names the server's certificate is valid for


def system_redis_server() -> Path:
    """Debian's redis-server 7, else a skip that says how to get it."""
    if not SYSTEM_REDIS_SERVER.is_file():
        pytest.skip(
            f"{SYSTEM_REDIS_SERVER} (Debian's redis-server 7, with TLS) is not installed: "
            "`apt-get install redis-server` (./dev test does it when run as root)"
        )
    shown = subprocess.run(
        [str(SYSTEM_REDIS_SERVER), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"v=(\d+)\.(\d+)", shown)
    if match is None or (int(match[1]), int(match[2])) < MIN_VERSION:
        pytest.skip(f"expected redis-server >= 7.0 at {SYSTEM_REDIS_SERVER}, got {shown.strip()}")
    return SYSTEM_REDIS_SERVER


@dataclass(frozen=True)
class Passwords:
    """A fresh random password per role, and the admin's (Redis's ``default`` user)."""

    admin: str
    roles: dict[str, str]

    @classmethod
    def fresh(cls) -> Passwords:
        return cls(
            admin=f"admin-{secrets.token_hex(16)}",
            roles={role: f"{role}-{secrets.token_hex(16)}" for role in ROLES},
        )

    def all(self) -> list[str]:
        return [self.admin, *self.roles.values()]


class SecureRedis(RedisNode):
    """redis-server with an ACL file (the three roles from ``common.acl`` and an admin)
    and, given ``server_pair`` and its ``authority``, TLS only (no plain-text port)."""

    def __init__(
        self,
        folder: Path,
        passwords: Passwords,
        settings: Settings | None = None,
        authority: Authority | None = None,
        server_pair: Pair | None = None,
        client_certificates: bool = False,
    ) -> None:
        self.passwords = passwords
        self.authority = authority
        self.acl_path = folder / "users.acl"
        lines = acl_file(settings or Settings(), passwords.roles)
        lines.append(f"user default on {password_hash(passwords.admin)} ~* &* +@all")
        self.acl_path.write_text("\n".join(lines) + "\n")
        options = ["--aclfile", str(self.acl_path)]
        self.admin_pair: Pair | None = None  # the admin's certificate, if the server asks
        if client_certificates:
            assert authority is not None
            self.admin_pair = authority.issue("admin", ("admin",), client=True)
        if server_pair is not None:
            assert authority is not None
            options += [
                *("--tls-cert-file", str(server_pair.cert), "--tls-key-file", str(server_pair.key)),
                *("--tls-ca-cert-file", str(authority.ca_file)),
                *("--tls-auth-clients", "yes" if client_certificates else "no"),
            ]
        tls = server_pair is not None
        super().__init__(folder, HOST, options=options, tls=tls, executable=system_redis_server())

    def client_tls(self) -> TlsOptions:
        return TlsOptions(ca_file=self.authority.ca_file if self.authority else None)

    def access(self, role: str, password: str | None = None) -> RedisAccess:
        """How ``role`` reaches this server (its own password unless one is given)."""
        secret = self.passwords.roles[role] if password is None else password
        return RedisAccess(self.url, username=role, password=secret, tls=self.client_tls())

    def client(self) -> redis.Redis[bytes]:
        """The admin's client (Redis's ``default`` user). It checks the CA, not the name:
        a test may give the server a certificate for another name."""
        pair = self.admin_pair
        tls = TlsOptions(
            self.client_tls().ca_file,
            pair.cert if pair else None,
            pair.key if pair else None,
            check_hostname=False,
        )
        access = RedisAccess(self.url, password=self.passwords.admin, tls=tls)
        return access.client(socket_timeout=5)

    def acl_log(self) -> list[dict[str, object]]:
        """What Redis refused since start: every denied command, key, channel or login."""
        entries: list[dict[str, object]] = self.client().acl_log()
        return entries
