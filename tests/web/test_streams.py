"""The MJPEG stream: each new drawing sent again at the next look unless a newer one is
there, because a browser shows a part only once the next part's headers arrive: sent
once, every drawing would be shown a frame late (a quiet camera's, seconds late)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from prometheus_client import CollectorRegistry

from common.metrics import WebMetrics
from web import streams
from web.demand import Demand
from web.snapshot import Snapshot

CAMERA = "door"


def drawing(number: int) -> Snapshot:
    return Snapshot(
        camera_id=CAMERA,
        frame_number=number,
        captured_at=time.time(),
        published_at=time.time(),
        rendered_at=time.time() + number,
        faces=1,
        stale=False,
        jpeg=b"\xff\xd8 drawing %d \xff\xd9" % number,
    )


def test_a_new_drawing_is_sent_again_at_once_so_the_browser_shows_it() -> None:
    held = [drawing(1)]

    async def writes() -> list[bytes]:
        client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0")  # never asked: held
        parts = streams.mjpeg(
            client, "ferstream", CAMERA, Demand(), WebMetrics.create(CollectorRegistry()),
            lambda _camera: held[-1],
        )  # fmt: skip
        sent = [await anext(parts), await anext(parts)]  # drawing 1, and 1 again
        held.append(drawing(2))
        sent += [await anext(parts), await anext(parts)]  # drawing 2, and 2 again
        held.append(drawing(3))
        sent.append(await anext(parts))  # a newer one ends drawing 2's part: no copy
        await parts.aclose()
        await client.aclose()
        return sent

    with ThreadPoolExecutor(1) as thread:  # a loop of its own: the browser tests hold one
        sent = thread.submit(asyncio.run, writes()).result()
    boundary = f"--{streams.BOUNDARY}\r\n".encode()
    closing = f"\r\n--{streams.BOUNDARY}\r\n".encode()
    assert sent[0].startswith(boundary) and all(not w.startswith(boundary) for w in sent[1:])
    assert all(w.endswith(closing) for w in sent)
    numbers = [int(dict(header_lines(w))[b"X-Frame-Number"]) for w in sent]
    assert numbers == [1, 1, 2, 2, 3]
    for write in sent:  # each part: its headers, then exactly Content-Length bytes of JPEG
        _, _, rest = write.removeprefix(boundary).partition(b"\r\n\r\n")
        length = int(dict(header_lines(write))[b"Content-Length"])
        assert rest[:length].startswith(b"\xff\xd8") and rest[length:] == closing


def header_lines(write: bytes) -> list[tuple[bytes, bytes]]:
    head = write.split(b"\r\n\r\n", 1)[0]
    return [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n") if b": " in line]  # type: ignore[misc]
