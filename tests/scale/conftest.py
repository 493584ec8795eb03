"""Fixtures of the multi-host scenarios: a LAN of network namespaces, always removed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferstream.scale.hosts import LAN_HOSTS
from ferstream.scale.netns import Lan
from ferstream.scale.processes import SYSTEM_REDIS_SERVER


@pytest.fixture
def lan() -> Iterator[Lan]:
    """The broker, two worker hosts and a camera host on 10.77.0.0/24; removed after,
    whatever the test did. Skipped where namespaces cannot be made."""
    why_not = Lan.permitted()
    if why_not is not None:
        pytest.skip(f"no network namespaces: {why_not}")
    if not SYSTEM_REDIS_SERVER.is_file():
        pytest.skip("needs Debian's redis-server 7 (apt-get install redis-server)")
    made = Lan(dict(LAN_HOSTS))
    try:
        yield made.create()
    finally:
        made.remove()
