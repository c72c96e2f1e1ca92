"""A loopback HTTP server with canned replies and faults, for plugin tests.

``LoopbackServer`` listens on 127.0.0.1, records every request, and answers with the
replies queued on it (JSON, SSE streams, raw bytes, a stall, or a dropped connection), so
a plugin's tests can run the real client library over real HTTP::

    with LoopbackServer() as server:
        server.add(Reply.json({"choices": []}, status=200))
        ...  # point the SDK at server.url
        assert server.requests[0].json()["max_tokens"] == 10

Standard library only; importing this module imports no provider SDK.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    #: The client's (host, port): one port per TCP connection, so pooling shows.
    client: tuple[str, int] = ("", 0)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Reply:
    """What the server answers: a status, headers and a body, or a fault."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Chunks sent one by one (with ``chunk_delay`` between them) instead of ``body``.
    chunks: tuple[bytes, ...] | None = None
    chunk_delay: float = 0.0
    #: Seconds to wait before answering (a stalled server).
    delay: float = 0.0
    #: Close the connection without answering (a reset).
    drop: bool = False
    #: With ``chunks``: reset the connection after this many chunks (a stream cut mid-way).
    cut_after: int | None = None
    #: Announce this many more body bytes than are sent, then close (a truncated body).
    missing_bytes: int = 0

    @classmethod
    def json(
        cls, data: object, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """A JSON reply."""
        return cls(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def sse(
        cls,
        events: Iterable[object],
        *,
        done: bool = True,
        chunk_delay: float = 0.0,
        named: bool = False,
        cut_after: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A server-sent-events stream of JSON events (``data: [DONE]`` last when ``done``).

        With ``named`` each event also gets an ``event:`` line from its ``type`` (Anthropic's
        wire format).
        """
        chunks = []
        for event in events:
            data = event if isinstance(event, str) else json.dumps(event)
            name = event.get("type") if named and isinstance(event, dict) else None
            prefix = f"event: {name}\n" if name else ""
            chunks.append(f"{prefix}data: {data}\n\n".encode())
        if done:
            chunks.append(b"data: [DONE]\n\n")
        return cls(
            200,
            b"",
            {"Content-Type": "text/event-stream", **(headers or {})},
            tuple(chunks),
            chunk_delay,
            cut_after=cut_after,
        )

    @classmethod
    def trickle(
        cls,
        body: bytes,
        *,
        every: float,
        size: int = 1,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """``body`` sent ``size`` bytes at a time, ``every`` seconds: a server that never stalls
        long enough for a read timeout, yet takes ``len(body) / size * every`` seconds."""
        chunks = tuple(body[i : i + size] for i in range(0, len(body), size))
        return cls(200, b"", {"Content-Type": content_type, **(headers or {})}, chunks, every)


Responder = Callable[[RecordedRequest], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default of 5 drops connections under concurrent load

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes its kept-alive connection (or is reset by a test) is normal
        # here: socketserver would print its traceback to stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers from a queue of replies.

    Replies are used in order; when the queue is empty, ``default`` answers. ``requests``
    lists what arrived. ``port`` pins the port (0: any free one). Use as a context manager,
    or call :meth:`start` / :meth:`close`.
    """

    def __init__(self, default: Reply | Responder | None = None, *, port: int = 0) -> None:
        self.default: Reply | Responder = default or Reply.json(
            {"error": "no reply queued"}, status=599
        )
        self.requests: list[RecordedRequest] = []
        #: Streams whose client went away before the last chunk was sent.
        self.disconnects = 0
        self._disconnected = threading.Event()
        self._queue: deque[Reply | Responder] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def add(self, *replies: Reply | Responder) -> None:
        """Queue replies (or functions of the request returning one), answered in order."""
        with self._lock:
            self._queue.extend(replies)

    def wait_for_disconnect(self, timeout: float) -> bool:
        """Wait until a client abandons a stream; True if one did within ``timeout``."""
        return self._disconnected.wait(timeout)

    def _client_left(self) -> None:
        with self._lock:
            self.disconnects += 1
        self._disconnected.set()

    def start(self) -> LoopbackServer:
        """Start serving in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            item = self._queue.popleft() if self._queue else self.default
        return item(request) if callable(item) else item

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # tests read server.requests instead

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    (self.client_address[0], self.client_address[1]),
                )
                reply = server._next_reply(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self._reset()
                    return
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    server._client_left()

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.chunks is None:
                    length = len(reply.body) + reply.missing_bytes
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    if reply.missing_bytes:
                        self.wfile.flush()
                        self._reset()
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                for i, chunk in enumerate(reply.chunks):
                    if reply.cut_after is not None and i >= reply.cut_after:
                        self._reset()
                        return
                    self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                self.wfile.write(b"0\r\n\r\n")

            def _reset(self) -> None:
                # SO_LINGER 0 makes close() send a TCP reset instead of a clean FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return Handler
