"""How a process reaches Redis: where, as which ACL user, and how it checks the server.

A ``RedisAccess`` is built once from ``Settings`` (``REDIS_URL`` and the
``FERSTREAM_REDIS_*`` fields): the user and password come from the URL, the environment
or a password file, never from the command line. ``rediss://`` turns TLS on; the server's
certificate is then always verified, against ``FERSTREAM_REDIS_TLS_CA_FILE`` (else the
system's trusted CAs), and its name checked against the URL's host unless
``FERSTREAM_REDIS_TLS_CHECK_HOSTNAME`` is false.

With Sentinel settings, the client finds the master through the sentinels
(``common.sentinel``); the URL then names only scheme, user, password and database.

Nothing here prints a secret: ``where`` is the URL without user and password, and
``scrub`` takes every secret this access knows out of a client library's message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.asyncio

from common.errors import BrokerUnavailable, FerStreamError
from common.sentinel import SentinelOptions
from common.settings import Settings

TLS_SCHEME = "rediss"
_SECRET_QUERY_KEYS = frozenset({"password", "username"})
# URL options that would weaken certificate checks behind the settings' back
_TLS_QUERY_KEYS = frozenset({"ssl_cert_reqs", "ssl_check_hostname"})
REDACTED = "***"
try:  # redis-py 7: driver_info=None turns CLIENT SETINFO off; before it, lib_name=None
    import redis.driver_info

    _NO_CLIENT_SETINFO: dict[str, Any] = {"driver_info": None}
except ImportError:  # pragma: no cover
    _NO_CLIENT_SETINFO = {"lib_name": None, "lib_version": None}


def redacted(url: str) -> str:
    """``url`` without user name and password (in the authority or the query), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable Redis URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in _SECRET_QUERY_KEYS]
    )
    # built by hand: urlunsplit would turn "unix:///path" into "unix:/path"
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class TlsOptions:
    """What a ``rediss://`` client checks: the CA that signed the server, and its name."""

    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # a client certificate, for a server that asks for one
    key_file: Path | None = None
    check_hostname: bool = True

    @property
    def configured(self) -> bool:
        """Whether any file is named (a sign the operator meant TLS)."""
        return any(path is not None for path in (self.ca_file, self.cert_file, self.key_file))

    def client_options(self) -> dict[str, Any]:
        """redis-py's keywords for a verified TLS connection."""
        return {
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": self.check_hostname,
            "ssl_ca_certs": _existing(self.ca_file, "FERSTREAM_REDIS_TLS_CA_FILE"),
            "ssl_certfile": _existing(self.cert_file, "FERSTREAM_REDIS_TLS_CERT_FILE"),
            "ssl_keyfile": _existing(self.key_file, "FERSTREAM_REDIS_TLS_KEY_FILE"),
        }


@dataclass(frozen=True)
class RedisAccess:
    """A Redis URL, the ACL user to log in as, and the TLS checks; the password hidden."""

    url: str
    username: str | None = None  # None: the URL's, else Redis's ``default`` user
    password: str | None = field(default=None, repr=False)  # None: the URL's, if any
    tls: TlsOptions = field(default_factory=TlsOptions)
    sentinel: SentinelOptions | None = None  # None: the URL's host is the master

    def __post_init__(self) -> None:
        scheme = urlsplit(self.url).scheme
        if self.tls.configured and scheme != TLS_SCHEME:
            raise FerStreamError(
                f"Redis TLS files are set: expected a {TLS_SCHEME}:// REDIS_URL, "
                f"got {redacted(self.url)}"
            )
        weakening = _TLS_QUERY_KEYS & {k.lower() for k, _ in parse_qsl(urlsplit(self.url).query)}
        if weakening:
            raise FerStreamError(
                f"REDIS_URL: expected no {', '.join(sorted(weakening))} in its query "
                "(certificates are always verified; FERSTREAM_REDIS_TLS_CHECK_HOSTNAME=false "
                f"skips the name check), got {redacted(self.url)}"
            )

    def __repr__(self) -> str:
        return (
            f"RedisAccess(where={self.where!r}, user={self.user!r}, tls={self.tls!r}, "
            f"sentinel={self.sentinel!r})"
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisAccess:
        """The access ``settings`` describe; the password file is read here."""
        if not settings.redis_url:
            raise FerStreamError("expected REDIS_URL to name the Redis server, got none")
        return cls(
            url=settings.redis_url,
            username=settings.redis_username,
            password=_password(settings),
            tls=TlsOptions(
                ca_file=settings.redis_tls_ca_file,
                cert_file=settings.redis_tls_cert_file,
                key_file=settings.redis_tls_key_file,
                check_hostname=settings.redis_tls_check_hostname,
            ),
            sentinel=_sentinel(settings),
        )

    @property
    def where(self) -> str:
        """The URL without user and password (or the sentinels and master), for messages."""
        if self.sentinel is not None:
            return f"{self.sentinel.where} ({redacted(self.url)})"
        return redacted(self.url)

    @property
    def user(self) -> str:
        """The ACL user this access logs in as."""
        return self.username or _url_part(self.url, "username") or "default"

    @property
    def uses_tls(self) -> bool:
        return urlsplit(self.url).scheme == TLS_SCHEME

    def secrets(self) -> list[str]:
        """Every password this access knows, as given and as the URL spells it."""
        found = [self.password, _url_part(self.url, "password")]
        found += self.sentinel.secrets() if self.sentinel else []
        found += [v for k, v in parse_qsl(urlsplit(self.url).query) if k.lower() == "password"]
        spelled = [secret for secret in found if secret]
        return sorted({*spelled, *(unquote(secret) for secret in spelled)}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this access replaced by ``***``."""
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return text

    def client(self, **options: Any) -> redis.Redis[bytes]:
        """A client (not yet connected) for this access; ``options`` go to redis-py.

        It does not name its library to the server (CLIENT SETINFO, Redis 7.2): the
        ACL users need not be allowed that command, which Redis 7.0 does not know.
        """
        try:
            if self.sentinel is not None:
                return self.sentinel.client(self.url, self.uses_tls, self._options(options))
            client: redis.Redis[bytes] = redis.Redis.from_url(self.url, **self._options(options))
        except ValueError as exc:
            raise self._bad_url(exc) from None
        return client

    def async_client(self, **options: Any) -> redis.asyncio.Redis[bytes]:
        """An asyncio client (not yet connected) for this access, as ``client`` makes."""
        try:
            if self.sentinel is not None:
                return self.sentinel.async_client(self.url, self.uses_tls, self._options(options))
            return redis.asyncio.Redis.from_url(self.url, **self._options(options))
        except ValueError as exc:
            raise self._bad_url(exc) from None

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        options = {**_NO_CLIENT_SETINFO, **options}
        if self.username is not None:
            options["username"] = self.username
        if self.password is not None:
            options["password"] = self.password
        if self.uses_tls:
            options.update(self.tls.client_options())
        return options

    def _bad_url(self, exc: ValueError) -> BrokerUnavailable:
        return BrokerUnavailable(
            f"cannot reach Redis at {self.where}: expected a redis://, rediss:// or "
            f"unix:// URL ({self.scrub(str(exc))})"
        )


def _password(settings: Settings) -> str | None:
    if settings.redis_password_file is None:
        return settings.redis_password
    return read_password(settings.redis_password_file, "FERSTREAM_REDIS_PASSWORD_FILE")


def _sentinel(settings: Settings) -> SentinelOptions | None:
    if not settings.sentinels:
        return None
    password = settings.redis_sentinel_password
    if settings.redis_sentinel_password_file is not None:
        password = read_password(
            settings.redis_sentinel_password_file, "FERSTREAM_REDIS_SENTINEL_PASSWORD_FILE"
        )
    return SentinelOptions(
        addresses=tuple(settings.sentinels),
        master=settings.redis_sentinel_master,
        username=settings.redis_sentinel_username,
        password=password,
    )


def read_password(path: Path, variable: str) -> str:
    """The password in the file ``path`` (``variable`` names it in errors)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise FerStreamError(
            f"{variable}: expected a readable file, got {path} ({exc.strerror})"
        ) from None
    password = text.rstrip("\r\n")
    if not password:
        raise FerStreamError(f"{variable}: expected a password, got {path} empty")
    return password


def _url_part(url: str, part: str) -> str | None:
    try:
        value: str | None = getattr(urlsplit(url), part)
    except ValueError:
        return None
    return unquote(value) if value else None


def _existing(path: Path | None, variable: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise FerStreamError(f"{variable}: expected a PEM file, got {path} (no such file)")
    return str(path)
