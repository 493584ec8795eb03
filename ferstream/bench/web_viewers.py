"""The live view's simulated viewers for ``ferstream bench-web``, doing what its pages
do: a grid polls the tiles' figures and pictures once a second (``If-None-Match``); a
camera page holds the MJPEG stream and the SSE events open; a churning viewer opens a
camera page, stays a few seconds and goes. Each records what it got, and when."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

GRID_INTERVAL_SECONDS = 1.0


@dataclass
class Seen:
    """What the viewers received."""

    requests: int = 0
    pictures: int = 0
    not_modified: int = 0
    errors: int = 0
    sessions: int = 0
    frame_latencies: list[float] = field(default_factory=list)  # MJPEG part shown - published
    event_latencies: list[float] = field(default_factory=list)  # SSE result - published


async def grid(
    client: httpx.AsyncClient, cameras: list[str], stop: asyncio.Event, seen: Seen
) -> None:
    etags: dict[str, str] = {}

    async def tile(camera: str) -> None:
        headers = {"If-None-Match": etags[camera]} if camera in etags else {}
        response = await client.get(f"/api/cameras/{camera}/latest.jpg", headers=headers)
        seen.requests += 1
        if response.status_code == 200:
            etags[camera] = response.headers["etag"]
            seen.pictures += 1
        elif response.status_code == 304:
            seen.not_modified += 1

    while not stop.is_set():
        started = time.monotonic()
        try:
            await client.get("/api/cameras")
            seen.requests += 1
            await asyncio.gather(*(tile(camera) for camera in cameras))
        except httpx.HTTPError:
            seen.errors += 1
        await _pause(stop, GRID_INTERVAL_SECONDS - (time.monotonic() - started))


async def camera_page(
    client: httpx.AsyncClient, camera: str, stop: asyncio.Event, seen: Seen, record: bool = True
) -> None:
    """Both streams of a camera page until ``stop``; latencies recorded if ``record``."""
    await asyncio.gather(
        _mjpeg(client, camera, stop, seen, record), _events(client, camera, stop, seen, record)
    )


async def churn(
    client: httpx.AsyncClient,
    cameras: list[str],
    stop: asyncio.Event,
    seen: Seen,
    rng: random.Random,
) -> None:
    """Camera pages opened for 1-4 s, then left, one after another, until ``stop``."""
    while not stop.is_set():
        leave = asyncio.Event()
        camera = rng.choice(cameras)
        try:
            await client.get(f"/api/cameras/{camera}/history")
            page = asyncio.create_task(camera_page(client, camera, leave, seen, record=False))
            await _pause(stop, rng.uniform(1.0, 4.0))
            leave.set()
            page.cancel()
            await asyncio.gather(page, return_exceptions=True)
            seen.sessions += 1
        except httpx.HTTPError:
            seen.errors += 1


async def _mjpeg(
    client: httpx.AsyncClient, camera: str, stop: asyncio.Event, seen: Seen, record: bool
) -> None:
    buffer, last_frame = b"", None
    showing: float | None = None  # published_at of a new frame a browser does not show yet
    async with client.stream("GET", f"/api/cameras/{camera}/stream.mjpg") as response:
        async for chunk in response.aiter_bytes():
            arrived = time.time()
            buffer += chunk
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                headers = _headers(buffer[:head_end])
                if record and showing is not None:
                    # a browser shows a part once the next part's headers are in: now
                    seen.frame_latencies.append(arrived - showing)
                    showing = None
                length = int(headers.get("content-length", "0"))
                if len(buffer) < head_end + 4 + length + 2:
                    break
                buffer = buffer[head_end + 4 + length + 2 :]
                seen.pictures += 1
                frame = headers.get("x-frame-number")
                if frame != last_frame and "x-published-at" in headers:
                    # a new frame; the stream's copies and keep-alive repeats are not
                    showing = float(headers["x-published-at"])
                last_frame = frame
            if stop.is_set():
                return


async def _events(
    client: httpx.AsyncClient, camera: str, stop: asyncio.Event, seen: Seen, record: bool
) -> None:
    kind = ""
    async with client.stream("GET", f"/api/cameras/{camera}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "result" and record:
                published = json.loads(line[6:])["published_at"]
                seen.event_latencies.append(time.time() - published)
            if stop.is_set():
                return


def _headers(block: bytes) -> dict[str, str]:
    found = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            found[name.strip().lower()] = value.strip()
    return found


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_viewers(
    url: str,
    seconds: float,
    cameras: list[str],
    grids: int,
    pages: int,
    churners: int = 0,
    seed: int = 0,
) -> Seen:
    """``grids`` grid viewers, ``pages`` camera pages and ``churners`` churning viewers
    for ``seconds``; what they saw."""
    seen = Seen()
    stop = asyncio.Event()
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    clients = [
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0, read=30.0), limits=limits)
        for _ in range(grids + pages + churners)
    ]  # one per viewer, as each browser has its own connections
    tasks = [asyncio.create_task(grid(clients[i], cameras, stop, seen)) for i in range(grids)]
    tasks += [
        asyncio.create_task(camera_page(clients[grids + i], cameras[i % len(cameras)], stop, seen))
        for i in range(pages)
    ]
    tasks += [
        asyncio.create_task(churn(clients[grids + pages + i], cameras, stop, seen, rng))
        for i in range(churners)
    ]
    await asyncio.sleep(seconds)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()
    return seen


def in_own_process(
    url: str,
    seconds: float,
    cameras: list[str],
    grids: int,
    pages: int,
    churners: int = 0,
    seed: int = 0,
) -> Seen:
    """``run_viewers`` in a process of its own (as browsers are), so that the viewers
    share no interpreter with the bench's cameras; what they saw, back as JSON."""
    job = {"url": url, "seconds": seconds, "cameras": cameras, "grids": grids,
           "pages": pages, "churners": churners, "seed": seed}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "ferstream.bench.web_viewers", json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=seconds + 120.0,
        check=True,
    )
    return Seen(**json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    job = json.loads(sys.argv[1])
    seen = asyncio.run(
        run_viewers(job["url"], job["seconds"], job["cameras"], job["grids"], job["pages"],
                    job["churners"], job["seed"])
    )  # fmt: skip
    print(json.dumps(vars(seen)))


if __name__ == "__main__":
    main()
