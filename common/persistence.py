"""Whether the frames database keeps anything on disk (RDB snapshots, an AOF).

Frames wait in Redis as JPEGs. Redis keeps them in memory only unless it persists: an
RDB snapshot (``save``) or an append-only file (``appendonly``) writes every key to
disk, and with it every face in the queue at that moment, where no TTL removes it.
A worker checks at start (``CONFIG GET``): with privacy ``off`` it warns; with
``strict`` it refuses to start (``PrivacyError``), also when the server will not say
(an ACL user without ``+config|get``, which ``common.acl`` grants the worker under strict
only), since the promise could not be checked. Off strict, a server that will not say
is logged at INFO: the default ACL worker user may not read the configuration.
"""

from __future__ import annotations

import logging

import redis

from common.errors import PrivacyError
from common.settings import Settings

log = logging.getLogger(__name__)


def persistence_of(connection: redis.Redis[bytes]) -> list[str]:
    """What the server writes to disk, in words (empty: nothing).

    ``redis.ResponseError`` (``NoPermissionError`` among them) if it will not say.
    """
    config = connection.config_get("save")
    config.update(connection.config_get("appendonly"))
    values = {_text(key): _text(value) for key, value in config.items()}
    found = []
    if values.get("save", "").strip():
        found.append(f"RDB snapshots (save {values['save']!r})")
    if values.get("appendonly", "no").lower() == "yes":
        found.append("an append-only file (appendonly yes)")
    return found


def checks_persistence(settings: Settings) -> bool:
    """Whether a worker with ``settings`` checks the frames database as it starts: always
    under strict privacy; off strict only as Redis's ``default`` user, since a role's ACL
    user (``common.acl``) may not read the configuration and must send nothing refused."""
    return settings.strict or settings.redis_username in (None, "", "default")


def check_frames_database(connection: redis.Redis[bytes], strict: bool) -> None:
    """Warn (privacy off) or refuse (strict: ``PrivacyError``) when the frames database
    persists to disk or will not say whether it does."""
    try:
        found = persistence_of(connection)
    except redis.ResponseError as exc:
        message = (
            "expected the frames database to answer CONFIG GET save/appendonly "
            f"(grant the worker's user +config|get), got {type(exc).__name__}: {exc}"
        )
        if strict:
            raise PrivacyError(f"privacy strict: {message}") from exc
        log.info("%s", message)  # a least-privilege worker user: nothing to warn of
        return
    if found:
        message = (
            "expected the frames database to keep nothing on disk (save '' and appendonly "
            f"no: frames hold faces), got {' and '.join(found)}"
        )
        _refuse_or_warn(message, strict)


def _refuse_or_warn(message: str, strict: bool) -> None:
    if strict:
        raise PrivacyError(f"privacy strict: {message}")
    log.warning("%s", message)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
