"""How a scenario's Redis servers are secured: the project's ACL users, with a fresh
password per role and the admin's, and optionally TLS; what each role's process is given."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from common.acl import ROLES, acl_file, password_hash
from common.settings import Settings


@dataclass(frozen=True)
class Login:
    """The broker's ACL users (a password per role and the admin's) and, with
    ``server_pair``, TLS only, its certificate signed by ``ca_file``."""

    admin_password: str
    passwords: dict[str, str]
    ca_file: Path | None = None
    server_pair: tuple[Path, Path] | None = None  # certificate, key

    def server_options(self, folder: Path) -> list[str]:
        path = folder / "users.acl"
        lines = acl_file(Settings(), self.passwords)
        lines.append(f"user default on {password_hash(self.admin_password)} ~* &* +@all")
        path.write_text("\n".join(lines) + "\n")
        options = ["--aclfile", str(path)]
        if self.server_pair is not None and self.ca_file is not None:
            cert, key = self.server_pair
            options += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
            options += ["--tls-ca-cert-file", str(self.ca_file), "--tls-auth-clients", "no"]
        return options

    @property
    def tls(self) -> bool:
        return self.server_pair is not None

    def env(self, role: str) -> dict[str, str]:
        env = {"FERSTREAM_REDIS_USERNAME": role, "FERSTREAM_REDIS_PASSWORD": self.passwords[role]}
        if self.ca_file is not None:
            env["FERSTREAM_REDIS_TLS_CA_FILE"] = str(self.ca_file)
        return env

    @classmethod
    def fresh(cls) -> Login:
        """Random passwords for the admin and every role (no TLS)."""
        return cls(
            admin_password=f"admin-{secrets.token_hex(12)}",
            passwords={role: f"{role}-{secrets.token_hex(12)}" for role in ROLES},
        )
