"""Which track service owns a camera: a lease in Redis, taken with SET NX PX and renewed.

Only the owner may renew or give back its lease (a compare-and-set in Lua), so a service
that paused past its lease cannot take a camera back from the one that took it over. On
failover the new owner starts the camera's tracks afresh.
"""

from __future__ import annotations

import redis

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class CameraLease:
    """``owner``'s claim on one camera, valid for ``ttl_ms`` after each take or renewal."""

    def __init__(self, connection: redis.Redis[bytes], key: str, owner: str, ttl_ms: int) -> None:
        if ttl_ms < 1:
            raise ValueError(f"expected a lease of at least 1 ms, got {ttl_ms}")
        self.connection = connection
        self.key = key
        self.owner = owner.encode()
        self.ttl_ms = ttl_ms
        self._renew = connection.register_script(RENEW)
        self._release = connection.register_script(RELEASE)

    def take(self) -> bool:
        """Own the camera if no one does, or keep it if this owner does; else False."""
        if self.connection.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return True
        return self.renew()

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.owner])
