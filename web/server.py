"""Running the live view: the renderer's thread and uvicorn, in the foreground
(``ferstream web``) or in a background thread (``ferstream demo``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import uvicorn
from prometheus_client import CollectorRegistry, ProcessCollector

from common.connection import connect_as
from common.errors import FerStreamError
from common.metrics import WebMetrics
from common.metrics_server import serve_metrics
from common.redis_access import RedisAccess
from common.settings import Settings
from web.app import LiveView, create_app
from web.auth import Credentials, RequireCredentials, check_bind
from web.demand import Demand
from web.renderer import Renderer

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 15.0
ASYNC_SOCKET_TIMEOUT_SECONDS = 10.0  # > an SSE's XREAD BLOCK


@dataclass
class WebService:
    """The live view of one process: its app, its renderer and where it listens."""

    settings: Settings
    app: RequireCredentials
    renderer: Renderer
    metrics: WebMetrics
    registry: CollectorRegistry  # what /metrics and the metrics port serve

    @property
    def url(self) -> str:
        host = self.settings.web_host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.settings.web_port}/"


def build(settings: Settings) -> WebService:
    """Credentials checked against the bind address first, then Redis reached."""
    credentials = Credentials.from_settings(settings)
    check_bind(settings.web_host, credentials)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # the service's own CPU and memory
    metrics = WebMetrics.create(registry)
    demand = Demand()
    renderer = Renderer(connect_as(settings), settings, metrics, demand)
    client = RedisAccess.from_settings(settings).async_client(
        socket_timeout=ASYNC_SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=5.0
    )
    view = LiveView(settings, client, renderer, demand, metrics, registry)
    return WebService(settings, create_app(view, credentials), renderer, metrics, registry)


def _server(service: WebService) -> uvicorn.Server:
    config = uvicorn.Config(
        service.app,
        host=service.settings.web_host,
        port=service.settings.web_port,
        log_level="warning",
        access_log=False,  # paths only, but nothing a viewer sends belongs in a log
        lifespan="on",
    )
    return uvicorn.Server(config)


def serve(settings: Settings, say: Callable[[str], None] = print) -> None:
    """``ferstream web``: serve until interrupted (SIGINT, SIGTERM); with a
    ``web_metrics_port``, its metrics there too, for Prometheus, without credentials."""
    service = build(settings)
    with ExitStack() as running:
        if settings.web_metrics_port:
            port, addr = settings.web_metrics_port, settings.metrics_addr
            running.enter_context(serve_metrics(service.registry, port, addr))
            say(f"metrics on {addr}:{port}")
        stop = threading.Event()
        thread = threading.Thread(
            target=service.renderer.run, args=(stop,), name="renderer", daemon=True
        )
        thread.start()
        say(f"live view on {service.url}")
        try:
            _server(service).run()
        finally:
            stop.set()
            thread.join(timeout=5.0)


@contextmanager
def background(settings: Settings) -> Iterator[WebService]:
    """The live view in this process's background threads while the context lasts."""
    service = build(settings)
    stop = threading.Event()
    server = _server(service)
    threads = [
        threading.Thread(target=service.renderer.run, args=(stop,), name="renderer", daemon=True),
        threading.Thread(target=server.run, name="web", daemon=True),
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started and threads[1].is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        stop.set()
        server.should_exit = True
        raise FerStreamError(
            f"the live view did not start on {service.url} (is the port taken? "
            "FERSTREAM_WEB_PORT picks another)"
        )
    try:
        yield service
    finally:
        server.should_exit = True
        stop.set()
        for thread in threads:
            thread.join(timeout=5.0)
