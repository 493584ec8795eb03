"""What a pool does when one of its worker processes dies: settle its frames soon, forget it.

A worker killed mid-batch leaves its jobs started in RQ's started-job registry, each
under an execution that would expire ``abandon_after_seconds`` after the batch started,
and its registration in Redis until its heartbeat TTL runs out. The pool knows at once
(``WorkerPool.poll``), so it expires the dead worker's executions now: the next registry
sweep of a live worker (every ``registry_sweep_seconds``) fails each of those jobs as
abandoned and counts its frame as ``failed:abandoned``. It also removes the registration,
so ``rq info`` and the pool's own wait for workers never count a dead worker.

A frame a dead worker had taken off the queue but not started sits in RQ's intermediate
queue, still pending for its camera; RQ fails it as stuck a minute after a sweep first
sees it, unless its job expired first (a queued job lives max age + 60 s), which RQ then
forgets silently. ``settle_expired``, run at every sweep, counts such a frame
``dropped:expired`` and takes it off its camera's pending list, as the producer's trim
does for a camera that is still sending (``producer.backpressure``).
"""

from __future__ import annotations

import logging

import redis
from rq import Queue, Worker, worker_registration
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.job import Job
from rq.registry import StartedJobRegistry

from common import accounting
from common.keys import cameras_set, counts_hash, pending_list
from common.serializer import MsgpackSerializer
from common.settings import Settings

log = logging.getLogger(__name__)

EXPIRED = 0  # a started-registry score in the past: expired at the next sweep


def reap(connection: redis.Redis[bytes], settings: Settings, name: str) -> int:
    """Expire the executions of the dead worker ``name`` and remove its registration;
    returns how many executions it held."""
    queue = Queue(settings.queue_name, connection=connection, serializer=MsgpackSerializer)
    worker = Worker.find_by_key(
        Worker.redis_worker_namespace_prefix + name,
        connection=connection,
        serializer=MsgpackSerializer,
    )
    executions = executions_of(connection, name)
    registry = StartedJobRegistry(queue=queue)
    with connection.pipeline() as pipeline:
        for composite in executions:
            pipeline.zadd(registry.key, {composite: EXPIRED}, xx=True)
        if worker is not None:
            worker_registration.unregister(worker, pipeline)
            pipeline.delete(worker.key)
        pipeline.delete(WORKER_EXECUTIONS_KEY_TEMPLATE.format(name))
        pipeline.execute()
    log.warning(
        "worker %s died holding %d started jobs: they settle at the next sweep",
        name,
        len(executions),
    )
    return len(executions)


def executions_of(connection: redis.Redis[bytes], name: str) -> list[str]:
    """The composite keys (job id:execution id) of the executions ``name`` had started."""
    members = connection.smembers(WORKER_EXECUTIONS_KEY_TEMPLATE.format(name))
    return sorted(member.decode() for member in members)


def settle_expired(connection: redis.Redis[bytes], settings: Settings) -> None:
    """Count every camera's pending frames whose job is gone as ``dropped:expired``."""
    script = connection.register_script(accounting.EXPIRED_PENDING_SCRIPT)
    queue = Queue(settings.queue_name, connection=connection, serializer=MsgpackSerializer)
    prefix = settings.key_prefix
    for member in connection.smembers(cameras_set(prefix)):
        camera = member.decode()
        keys = [pending_list(prefix, camera), queue.key, counts_hash(prefix, camera)]
        script(keys=keys, args=[Job.redis_job_namespace_prefix, accounting.EXPIRED])
