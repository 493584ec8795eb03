"""Every Redis key and channel name the project uses, derived from ``Settings.key_prefix``.

RQ's own keys (queues, jobs, registries) live under RQ's ``rq:`` prefix and are not
listed here. Camera ids are checked by ``common.wire`` before they reach a key name.
"""

from __future__ import annotations


def results_channel(prefix: str, camera_id: str) -> str:
    """Pub/sub channel a worker publishes a camera's encoded ``Result`` messages on."""
    return f"{prefix}:results:{camera_id}"


def results_stream(prefix: str, camera_id: str) -> str:
    """Redis Stream (approximate MAXLEN) keeping a camera's recent ``Result`` messages."""
    return f"{prefix}:stream:{camera_id}"


def cameras_set(prefix: str) -> str:
    """Set of the camera ids that have submitted at least one frame."""
    return f"{prefix}:cameras"


def counts_hash(prefix: str, camera_id: str) -> str:
    """Hash of one camera's frame counters (see ``common.accounting``)."""
    return f"{prefix}:counts:{camera_id}"


def pending_list(prefix: str, camera_id: str) -> str:
    """List of a camera's queued frame job ids, oldest first (see ``producer.backpressure``)."""
    return f"{prefix}:pending:{camera_id}"


def tracks_channel(prefix: str, camera_id: str) -> str:
    """Pub/sub channel the track service publishes a camera's encoded ``Tracks`` on."""
    return f"{prefix}:tracks:{camera_id}"


def tracks_stream(prefix: str, camera_id: str) -> str:
    """Redis Stream (approximate MAXLEN) keeping a camera's recent ``Tracks`` messages."""
    return f"{prefix}:trackstream:{camera_id}"


def track_lease(prefix: str, camera_id: str) -> str:
    """The track service replica that owns a camera's tracks (see ``tracking.lease``)."""
    return f"{prefix}:tracklease:{camera_id}"


def track_hints(prefix: str, camera_id: str) -> str:
    """A camera's last tracked boxes, short-lived, for track-guided detection."""
    return f"{prefix}:trackhints:{camera_id}"


def aggregate_channel(prefix: str, camera_id: str) -> str:
    """Pub/sub channel of a camera's encoded ``Aggregate`` messages (results mode aggregate)."""
    return f"{prefix}:aggregates:{camera_id}"


def aggregate_stream(prefix: str, camera_id: str) -> str:
    """Redis Stream keeping a camera's recent ``Aggregate`` messages."""
    return f"{prefix}:aggregate:{camera_id}"


def window_hash(prefix: str, camera_id: str, start: int) -> str:
    """Hash of the emotion counts of one camera's open window starting at ``start``."""
    return f"{prefix}:window:{camera_id}:{start}"


def windows_set(prefix: str, camera_id: str) -> str:
    """Sorted set of the start times of a camera's open windows (score: the start)."""
    return f"{prefix}:windows:{camera_id}"


def latest_frame(prefix: str, camera_id: str) -> str:
    """A camera's newest encoded ``Frame``, short-lived (written by its producer, never
    under strict privacy), for the live view's renderer."""
    return f"{prefix}:frame:{camera_id}"


def rendered_frame(prefix: str, camera_id: str) -> str:
    """A camera's latest annotated frame (a ``web.snapshot.Snapshot``), short-lived,
    rendered once by the live view for all its viewers."""
    return f"{prefix}:rendered:{camera_id}"
