"""A real MJPEG-over-HTTP camera on 127.0.0.1 whose faults a test turns on and off.

``MjpegCamera`` serves ``multipart/x-mixed-replace`` JPEG frames of one grey ``level`` at
``fps`` to every client, as network cameras do, until told to misbehave:

==============  ==================================================================
call            what clients see
==============  ==================================================================
``stall()``     connections stay open and nothing more arrives (new ones: not even
                headers) until ``resume()``
``drop()``      every open connection is closed; new ones are served
``stop()``      the port refuses connections (and open ones close) until ``start()``
``serve(kind)`` from now on, on new connections: ``"random"`` (HTTP 200, random
                bytes), ``"not_jpeg"`` (multipart parts of random bytes),
                ``"html_error"`` (a 503 HTML page), or ``"jpeg"`` again
``garble(n)``   the next ``n`` parts are random bytes, the stream goes on
==============  ==================================================================
"""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import threading
from types import TracebackType

import cv2
import numpy as np

GARBAGE_KINDS = ("random", "not_jpeg", "html_error")
KINDS = ("jpeg", *GARBAGE_KINDS)
BOUNDARY = "frame"
ERROR_PAGE = b"<html><body><h1>503 Service Unavailable</h1><p>Camera busy.</p></body></html>"


def jpeg_part(body: bytes) -> bytes:
    """One part of the multipart stream, labelled as JPEG whatever ``body`` holds."""
    header = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
    return header.encode() + body + b"\r\n"


class _CameraServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    camera: MjpegCamera


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _CameraServer

    def do_GET(self) -> None:
        camera = self.server.camera
        camera.track(self.connection)
        try:
            camera.wait_while_stalled()
            kind = camera.kind
            if kind == "html_error":
                self._error_page()
            elif kind == "random":
                self._random_bytes(camera)
            else:
                self._parts(camera)
        except OSError:
            pass  # the client went away, or the camera dropped the connection
        finally:
            camera.untrack(self.connection)

    def _error_page(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(ERROR_PAGE)))
        self.end_headers()
        self.wfile.write(ERROR_PAGE)

    def _random_bytes(self, camera: MjpegCamera) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        while camera.serving(self.connection):
            self.wfile.write(os.urandom(4096))
            camera.pause()

    def _parts(self, camera: MjpegCamera) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.end_headers()
        sent = 0
        while camera.serving(self.connection):
            if camera.frames_per_connection is not None and sent >= camera.frames_per_connection:
                return
            camera.wait_while_stalled()
            self.wfile.write(jpeg_part(camera.next_body()))
            self.wfile.flush()
            sent += 1
            camera.pause()

    def log_message(self, *args: object) -> None:
        pass


class MjpegCamera:
    """See the module docstring; a context manager that stops the camera on exit."""

    def __init__(
        self, *, level: int = 80, fps: float = 50.0, frames_per_connection: int | None = None
    ) -> None:
        self.level = level
        self.kind = "jpeg"
        self.frames_per_connection = frames_per_connection
        self.requests = 0  # connections served so far
        self._period = 1.0 / fps
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._garbled = 0
        self._server: _CameraServer | None = None
        self._port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/stream.mjpg"

    def start(self) -> None:
        """Listen (again, on the same port) and serve."""
        server = _CameraServer(("127.0.0.1", self._port), _Handler)
        server.camera = self
        self._port = int(server.server_address[1])
        self._server = server
        self._stopped.clear()
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Close the port, so connections are refused, and every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self._stopped.set()
        self._flowing.set()  # a stalled handler must see the stop and end
        self.drop()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def drop(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed by the client already
                connection.shutdown(socket.SHUT_RDWR)

    def serve(self, kind: str) -> None:
        """Serve ``kind`` on new connections, and drop the open ones so clients come back."""
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.drop()

    def garble(self, parts: int) -> None:
        with self._lock:
            self._garbled += parts

    # Used by the handler threads.

    def track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            self.requests += 1

    def untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def serving(self, connection: socket.socket) -> bool:
        with self._lock:
            return connection in self._connections and not self._stopped.is_set()

    def wait_while_stalled(self) -> None:
        while not self._flowing.wait(0.05):
            pass
        if self._stopped.is_set():
            raise ConnectionAbortedError("camera stopped")

    def pause(self) -> None:
        self._stopped.wait(self._period)

    def next_body(self) -> bytes:
        """A JPEG of the current level, or random bytes while parts are to be garbled."""
        with self._lock:
            garbled, self._garbled = self._garbled > 0, max(0, self._garbled - 1)
        if garbled or self.kind == "not_jpeg":
            return os.urandom(2000)
        ok, encoded = cv2.imencode(".jpg", np.full((48, 64, 3), self.level, np.uint8))
        assert ok
        return encoded.tobytes()

    def __enter__(self) -> MjpegCamera:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
