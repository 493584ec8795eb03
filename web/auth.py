"""Who may watch: anonymous only on a loopback address; anywhere else a token or
basic-auth credentials, from the environment or a file, never the command line.

``FERSTREAM_WEB_TOKEN`` (or ``FERSTREAM_WEB_TOKEN_FILE``) is accepted as
``Authorization: Bearer <token>`` or as the password of basic auth (any user name), so a
browser's own login prompt works; ``FERSTREAM_WEB_CREDENTIALS_FILE`` holds
``user:password`` lines. Comparisons take constant time. A refused request gets 401
with a ``WWW-Authenticate`` challenge and is counted; no credential is ever logged or
put in a URL, and none is echoed in a reply.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import FerStreamError
from common.metrics import WebMetrics
from common.settings import Settings

OPEN_PATHS = frozenset({"/healthz"})  # says only that the service is up
REALM = 'Basic realm="ferstream", charset="UTF-8"'

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Credentials:
    """A token and user/password pairs; empty: anonymous access."""

    token: str | None = field(default=None, repr=False)
    users: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def required(self) -> bool:
        return bool(self.token or self.users)

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        if settings.web_token and settings.web_token_file:
            raise FerStreamError(
                "expected FERSTREAM_WEB_TOKEN or FERSTREAM_WEB_TOKEN_FILE, got both"
            )
        token = settings.web_token
        if settings.web_token_file is not None:
            token = _read(settings.web_token_file, "FERSTREAM_WEB_TOKEN_FILE").strip()
        if token is not None and len(token) < 16:
            raise FerStreamError(
                f"the web token: expected at least 16 characters, got {len(token)}"
            )
        users: dict[str, str] = {}
        if settings.web_credentials_file is not None:
            path = settings.web_credentials_file
            for number, line in enumerate(
                _read(path, "FERSTREAM_WEB_CREDENTIALS_FILE").splitlines()
            ):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                name, colon, password = line.partition(":")
                if not colon or not name or not password:
                    raise FerStreamError(
                        f"FERSTREAM_WEB_CREDENTIALS_FILE {path} line {number + 1}: expected "
                        "user:password, got a line without both"
                    )
                users[name] = password
        return cls(token=token or None, users=users)

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header's value carries valid credentials."""
        if not self.required:
            return True
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return self.token is not None and _same(value.strip(), self.token)
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        name, _, password = decoded.partition(":")
        expected = self.users.get(name)
        by_user = expected is not None and _same(password, expected)
        by_token = self.token is not None and _same(password, self.token)
        return by_user or by_token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, credentials: Credentials) -> None:
    """Refuse to serve beyond this machine without credentials."""
    if not is_loopback(host) and not credentials.required:
        raise FerStreamError(
            f"refusing to serve the live view on {host}: anonymous access is only for "
            "127.0.0.1 / ::1. Set FERSTREAM_WEB_TOKEN (or FERSTREAM_WEB_TOKEN_FILE), or "
            "FERSTREAM_WEB_CREDENTIALS_FILE with user:password lines, or bind to 127.0.0.1"
        )


class RequireCredentials:
    """ASGI middleware: every request but ``OPEN_PATHS`` needs ``credentials``."""

    def __init__(self, app: App, credentials: Credentials, metrics: WebMetrics) -> None:
        self.app = app
        self.credentials = credentials
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"authorization")
        if self.credentials.allows(raw.decode("latin-1") if raw else None):
            await self.app(scope, receive, send)
            return
        self.metrics.refused.inc()
        body = b"401: credentials needed (token or user:password)\n"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", REALM.encode()),
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _read(path: Path, variable: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise FerStreamError(
            f"{variable}: expected a readable file, got {path} ({exc.strerror})"
        ) from None
