"""The Redis ACL users of a deployment, one per role, each allowed only what its role does.

    producer   enqueue frame jobs (RQ's job hash and queue push, the camera's pending
               trim script) and its cameras' bookkeeping; it can neither read a job, a
               result or a channel, nor flush, configure or administer anything
    worker     RQ's worker protocol under ``rq:*`` (queues, jobs, registries, executions,
               worker registration, its command channel), the frames' results (stream
               appends and channel publishes, never reads), counters and pending lists,
               aggregate windows; under strict privacy also CONFIG GET (the check that
               the frames database keeps nothing on disk)
    tracker    the track service (``ferstream track``): reads results streams and the
               camera set, writes tracks streams and channels, the cameras' track
               hints and its leases (taken, renewed and given back by Lua scripts)
    reader     results, aggregate and tracks streams and channels, counters, pending
               lists, the camera set: read only
    web        the live view (``ferstream web``): reads results, tracks and aggregate
               streams, counters, the camera set and the cameras' newest frames; writes only
               the annotated frames it renders (short-lived keys, ``SET PX``)

Every rule is derived from what the role's real processes send (``tests/security``
runs each under its user and checks that Redis's ACL log stays empty), and key
patterns follow the ``Settings`` (queue name, key prefix). Write-only key patterns
(``%W~``) let a producer write frame jobs and its cameras' newest frames it can never
read back (it may read the queue's job ids, which its trim script needs), and a worker
append results it cannot read. ``rules`` gives one role's rules; ``setuser_lines`` and
``acl_file`` render them with a password hash (``#<sha256>``), never the password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.errors import FerStreamError
from common.settings import Settings

PRODUCER, WORKER, TRACKER, READER, WEB = "producer", "worker", "tracker", "reader", "web"
ROLES = (PRODUCER, WORKER, TRACKER, READER, WEB)

# What every client may send: a PING checks a new connection; SELECT picks the URL's
# database (key patterns hold in every database). The project's clients do not send
# CLIENT SETINFO (``RedisAccess.client``), so no user needs it.
_CONNECTION = ("ping", "select")
# RQ reads the server's version (INFO server) before it enqueues or serves a job; the
# worker pool's metrics read INFO memory.
_VERSION = ("info",)
_TRANSACTIONS = ("multi", "exec", "discard")

# Each list is what the role's real code sent, read with MONITOR over its paths (a
# producer under each overflow policy; FerWorker serving good, bad, stale and foreign
# jobs, with results deleted and kept, a dead worker reaped and its frames swept, the
# pool's metrics; RQ's own SimpleWorker; the results reader), plus the few commands of
# paths a short run does not reach, each named. ``tests/security`` runs every role under
# its user and checks that Redis's ACL log stays empty.
_PRODUCER_COMMANDS = (
    *_CONNECTION,
    *_VERSION,
    *_TRANSACTIONS,
    "evalsha",  # the camera's pending trim, a Lua script (run with this user's ACL)
    "script|exists",  # ... loaded by redis-py before a pipeline runs it
    "script|load",
    "hset",  # the job hash
    "expire",  # the queued job's TTL
    "rpush",  # the queue, the camera's pending list
    "sadd",  # the set of queues, the set of cameras
    "hincrby",  # the camera's counters
    "hget",  # the tally script: the camera's submitted, held against the producer's own
    "llen",  # the block policy's wait for room
    "lpop",  # the trim: the camera's oldest pending id
    "lrem",  # the trim: that id out of the queue
    "del",  # the trim: that frame's job
    "exists",  # the trim and the full camera's look: a pending frame whose job expired
    "lrange",  # ... the full camera's pending ids (drop_new, block)
    "set",  # the camera's newest frame, short-lived (PX), for the live view
)

_WORKER_COMMANDS = (
    *_CONNECTION,
    *_VERSION,
    *_TRANSACTIONS,
    "watch",  # a batch's settle, under WATCH of its jobs
    "unwatch",
    "eval",  # job statuses of a batch in one round trip (worker.bookkeeping)
    "evalsha",  # RQ's scripts
    "script|exists",
    "script|load",
    "client|setname",  # RQ names its connection after the worker
    "client|info",  # ... and reads its own address
    "exists",
    "expire",
    "persist",
    "del",
    "set",  # the registry sweep's lock
    # RQ's sweep of its intermediate queue: when a job a dead worker dequeued but never
    # started was first seen there (a host's whole pool killed: tests/scale)
    "get",
    "hset",
    "hget",
    "hgetall",
    "hexists",  # a registration lost in a Redis restart (FerWorker._register_again)
    "hincrby",
    "hincrbyfloat",
    "sadd",
    "srem",
    "smembers",
    "zadd",
    "zrem",
    "zrange",
    "zrangebyscore",
    "zremrangebyscore",
    "rpush",
    "lrem",
    "llen",
    "lrange",
    "lmove",  # taking the jobs of a batch
    "blmove",  # RQ's blocking dequeue (a burst run never blocks)
    "xadd",  # results (and RQ's job results)
    "publish",
    "subscribe",  # RQ's command channel, rq:pubsub:<worker>
    "unsubscribe",
    "mget",  # the batch's track hints, for guided detection (worker.guidance)
    "xtrim",  # a retention: results trimmed by age (common.retention)
    "hmget",  # results mode aggregate: a window's counts, in its closing script
)
# Under strict privacy a worker must see that the frames database keeps nothing on disk
# (common.persistence). CONFIG GET reads every setting, so only strict grants it.
_STRICT_WORKER_COMMANDS = ("config|get",)

_TRACKER_COMMANDS = (
    *_CONNECTION,
    "smembers",  # the cameras to track
    "xrevrange",  # where a newly owned camera's results end
    "xread",  # its results from there on
    "xadd",  # its tracks
    "publish",
    "set",  # a lease taken (NX PX); a hint written (PX)
    "del",  # a hint of a camera with no tracks
    "evalsha",  # a lease renewed or given back (tracking.lease)
    "script|exists",
    "script|load",
    "get",  # ... inside those scripts
    "pexpire",
    "xtrim",  # a retention: tracks trimmed by age and expiring (common.retention)
    "expire",
)

_READER_COMMANDS = (
    *_CONNECTION,
    "xrange",  # a camera's history (ferstream results)
    "xrevrange",  # ... its last N (--count)
    "xread",  # ... then live (--follow)
    "hgetall",  # counters
    "smembers",  # the cameras
    "llen",  # frames still waiting
    "subscribe",  # a camera's live results channel
    "unsubscribe",
)


_WEB_COMMANDS = (
    *_CONNECTION,
    "smembers",  # the cameras
    "xrange",  # a camera's timeline
    "xrevrange",  # where its streams end, its recent results
    "xread",  # results and tracks as they come (the renderer, each page's events)
    "hgetall",  # counters
    "get",  # a camera's annotated frame
    "mget",  # the newest frames of the cameras due a drawing
    "set",  # ... the annotated frame, rendered once for every viewer (PX)
)


@dataclass(frozen=True)
class AclUser:
    """One Redis user: the commands it may send, the keys and channels it may touch."""

    name: str
    commands: tuple[str, ...]
    keys: tuple[str, ...]  # ``~`` (read and write), ``%R~`` (read) or ``%W~`` (write)
    channels: tuple[str, ...]

    def rules(self) -> str:
        """The user's ACL rules, from nothing (``reset``), without its password."""
        return " ".join(
            [
                "resetkeys",
                "resetchannels",
                "-@all",
                *(f"+{command}" for command in self.commands),
                *self.keys,
                *(f"&{channel}" for channel in self.channels),
            ]
        )


def acl_users(settings: Settings) -> list[AclUser]:
    """The five users for ``settings``' queue name and key prefix."""
    prefix, queue = settings.key_prefix, settings.queue_name
    bookkeeping = (f"%RW~{prefix}:counts:*", f"%RW~{prefix}:pending:*")
    return [
        AclUser(
            PRODUCER,
            _PRODUCER_COMMANDS,
            (
                "%W~rq:job:*",
                # read too: the pending trim runs on it, and a script's keys need both
                f"~rq:queue:{queue}",
                "%W~rq:queues",
                f"%W~{prefix}:cameras",
                *bookkeeping,
                f"%W~{prefix}:frame:*",
            ),
            (),
        ),
        AclUser(
            WORKER,
            (*_WORKER_COMMANDS, *(_STRICT_WORKER_COMMANDS if settings.strict else ())),
            (
                "~rq:*",
                *bookkeeping,
                f"%W~{prefix}:stream:*",
                f"%R~{prefix}:trackhints:*",
                # results mode aggregate: open windows, and the published ones (a script's
                # declared keys need read and write)
                f"~{prefix}:window:*",
                f"~{prefix}:windows:*",
                f"~{prefix}:aggregate:*",
                f"%R~{prefix}:cameras",  # ... whose windows a registry sweep closes
            ),
            ("rq:pubsub:*", f"{prefix}:results:*", f"{prefix}:aggregates:*"),
        ),
        AclUser(
            TRACKER,
            _TRACKER_COMMANDS,
            (
                f"%R~{prefix}:stream:*",
                f"%R~{prefix}:cameras",
                f"%W~{prefix}:trackstream:*",
                f"%W~{prefix}:trackhints:*",
                f"~{prefix}:tracklease:*",
            ),
            (f"{prefix}:tracks:*",),
        ),
        AclUser(
            READER,
            _READER_COMMANDS,
            (
                f"%R~{prefix}:stream:*",
                f"%R~{prefix}:trackstream:*",
                f"%R~{prefix}:counts:*",
                f"%R~{prefix}:pending:*",
                f"%R~{prefix}:cameras",
                f"%R~{prefix}:aggregate:*",
            ),
            (f"{prefix}:results:*", f"{prefix}:tracks:*", f"{prefix}:aggregates:*"),
        ),
        AclUser(
            WEB,
            _WEB_COMMANDS,
            (
                f"%R~{prefix}:stream:*",
                f"%R~{prefix}:trackstream:*",
                f"%R~{prefix}:counts:*",
                f"%R~{prefix}:cameras",
                f"%R~{prefix}:frame:*",
                f"~{prefix}:rendered:*",
                f"%R~{prefix}:aggregate:*",
            ),
            (),
        ),
    ]


def user(settings: Settings, name: str) -> AclUser:
    """The user of role ``name``."""
    for each in acl_users(settings):
        if each.name == name:
            return each
    raise FerStreamError(f"expected a role among {ROLES}, got {name!r}")


def password_hash(password: str) -> str:
    """Redis's ``#<sha256 hex>`` form of a password, so rules never hold the password."""
    if not password or password != password.strip() or any(ch.isspace() for ch in password):
        raise FerStreamError(
            "expected a Redis password without spaces, got one empty or with whitespace"
        )
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def setuser_lines(settings: Settings, passwords: Mapping[str, str]) -> list[str]:
    """``ACL SETUSER`` commands (for ``redis-cli``) making the role users."""
    return [f"ACL SETUSER {line}" for line in _user_lines(settings, passwords)]


def acl_file(settings: Settings, passwords: Mapping[str, str]) -> list[str]:
    """``user`` lines for an ACL file (``aclfile``) or a redis.conf."""
    return [f"user {line}" for line in _user_lines(settings, passwords)]


def password_variable(role: str) -> str:
    """The environment variable holding ``role``'s password (as in ``.env``)."""
    return f"{role.upper()}_REDIS_PASSWORD"


def read_passwords(env: Mapping[str, str], folder: Path | None = None) -> dict[str, str]:
    """Each role's password: from ``folder/<role>`` (one file per role, as Docker secrets
    are), else from ``<ROLE>_REDIS_PASSWORD`` in ``env``; never from the command line."""
    found: dict[str, str] = {}
    for role in ROLES:
        if folder is not None:
            path = folder / role
            try:
                found[role] = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise FerStreamError(
                    f"expected a password file {path}, got none ({exc.strerror})"
                ) from None
        elif env.get(password_variable(role)):
            found[role] = env[password_variable(role)]
    return found


def _user_lines(settings: Settings, passwords: Mapping[str, str]) -> list[str]:
    missing = [role for role in ROLES if not passwords.get(role)]
    if missing:
        wanted = ", ".join(password_variable(role) for role in missing)
        raise FerStreamError(f"expected a password for every role, got none in {wanted}")
    return [
        f"{each.name} reset on {password_hash(passwords[each.name])} {each.rules()}"
        for each in acl_users(settings)
    ]
