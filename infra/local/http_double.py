"""What the providers' local doubles share: an HTTP server on 127.0.0.1, failure injection, a call log.

A double subclasses :class:`HttpDouble` and implements ``handle`` (one request -> status, headers, body)
and ``fault_body`` (how the provider words a 5xx/429). Use it in-process as a context manager::

    with DailyDouble(api_key="k") as daily:
        daily.fail_next(2, status=503)          # the next two API calls answer 503
        daily.fail_next(1, status=429, retry_after=1)
        daily.timeout_next(1, seconds=2.0)      # the next call gets no answer for 2 s, then the socket closes
        ...
        daily.calls_to("POST", "/rooms")        # what the client sent

Failure injection only touches provider calls, never the double's own helpers. Only the standard
library and httpx (webhook deliveries) are used. The server's lifecycle alone (:class:`LoopbackServer`) is
shared with the Bot API and YooKassa doubles, which keep their own call logs and failure injection.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["LoopbackServer", "HttpDouble", "Call", "Fault", "Reply", "deliver_webhook"]

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Call:
    verb: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.time)


@dataclass
class Fault:
    kind: str                   # "status" | "timeout"
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    path: str | None = None     # only calls whose path starts with this


class LoopbackServer(ABC):
    """An HTTP server on 127.0.0.1 (port 0 = any free one) in a daemon thread, started and stopped with the
    object or as a context manager: the part every in-process double (the providers', the Bot API's,
    YooKassa's) shares. A subclass answers requests with the handler class ``bound_handler`` gives."""

    thread_name = "http-double"
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"{self.thread_name} binds 127.0.0.1 only")
        self.host = "127.0.0.1"
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def bound_handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, bound to this double."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if self._server is not None:
            return self
        self._server = self.server_class((self.host, self.port), self.bound_handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # stop() waits for serve_forever to see the shutdown, up to one poll: 50 ms per double per test at
        # the default, 10 ms here (a double is started and stopped by hundreds of tests)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"{self.thread_name}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class HttpDouble(LoopbackServer):
    """Base of an in-process provider double (ThreadingHTTPServer on 127.0.0.1, port 0 = any free one)."""

    server_header = "double"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False):
        super().__init__(host, port)
        self.verbose = verbose
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self._faults: list[Fault] = []
        self.webhook_url: str | None = None
        self.webhooks_sent: list[dict] = []   # {"event", "headers", "body", "status"} (headers None: no URL set)
        self._outbox: list[Any] = []
        self._flush_lock = threading.Lock()

    def bound_handler(self) -> type[BaseHTTPRequestHandler]:
        return type("BoundHandler", (_Handler,), {"double": self, "server_version": self.server_header})

    # ---- failure injection -----------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, *, retry_after: float | str | None = None,
                  path: str | None = None) -> None:
        """The next ``count`` provider calls (optionally: whose path starts with ``path``) answer
        ``status`` in the provider's error format, with ``Retry-After`` when given."""
        ra = None if retry_after is None else (retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        with self.lock:
            self._faults.extend(Fault("status", status, ra, path=path) for _ in range(count))

    def timeout_next(self, count: int = 1, seconds: float = 5.0, *, path: str | None = None) -> None:
        """The next ``count`` calls get no answer for ``seconds``; then the connection is closed unanswered
        (a client with a shorter timeout sees a read timeout; the call is NOT executed)."""
        with self.lock:
            self._faults.extend(Fault("timeout", seconds=seconds, path=path) for _ in range(count))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self._faults):
                if fault.path is None or path.startswith(fault.path):
                    return self._faults.pop(i)
        return None

    # ---- call log --------------------------------------------------------------------------

    def calls_to(self, verb: str | None = None, path: str | None = None) -> list[Call]:
        """Recorded provider calls (injected failures included), optionally by verb and exact path."""
        with self.lock:
            return [c for c in self.calls
                    if (verb is None or c.verb == verb) and (path is None or c.path == path)]

    # ---- webhooks: queued under the lock by state changes, delivered outside it, in order --------

    def queue_webhook(self, event: Any) -> None:
        self._outbox.append(event)

    def flush_webhooks(self) -> None:
        with self._flush_lock:
            while True:
                with self.lock:
                    if not self._outbox:
                        return
                    event = self._outbox.pop(0)
                if self.webhook_url:
                    self.deliver(event)
                else:
                    with self.lock:
                        self.webhooks_sent.append({"event": event, "headers": None, "body": None, "status": None})

    def record_delivery(self, event: Any, headers: dict[str, str], body: bytes, url: str) -> int | None:
        status = deliver_webhook(url, headers, body)
        with self.lock:
            self.webhooks_sent.append({"event": event, "headers": headers, "body": body, "status": status})
        return status

    # ---- for subclasses --------------------------------------------------------------------

    @abstractmethod
    def deliver(self, event: Any) -> int | None:
        """Sends one of the provider's webhook events, signed as the provider signs it."""

    def is_api_path(self, path: str) -> bool:
        """Paths that are provider calls (recorded, subject to faults)."""
        return True

    @abstractmethod
    def handle(self, call: Call) -> Reply:
        """Answers one provider call as the provider would."""

    @abstractmethod
    def fault_body(self, call: Call, status: int) -> Reply:
        """The provider's error body for an injected failure."""


class _Handler(BaseHTTPRequestHandler):
    double: HttpDouble
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
    # (~40 ms on Linux) - a real server answers in one go, so the double must too.
    disable_nagle_algorithm = True
    sys_version = ""

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.double.verbose:
            super().log_message(fmt, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urllib.parse.urlsplit(self.path)
        call = Call(verb, urllib.parse.unquote(parts.path),
                    urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()}, body)
        double = self.double
        api = double.is_api_path(call.path)
        fault = double._take_fault(call.path) if api else None
        if api:
            with double.lock:
                double.calls.append(call)
        if fault is not None and fault.kind == "timeout":
            call.status = -1
            time.sleep(fault.seconds)
            self.close_connection = True
            return
        if fault is not None:
            status, headers, data = double.fault_body(call, fault.status)
            if fault.retry_after is not None:
                headers = {**headers, "Retry-After": fault.retry_after}
        else:
            try:
                status, headers, data = double.handle(call)
            except Exception as exc:  # a bug in the double: answer like a provider's 500, keep serving
                import traceback
                traceback.print_exc()
                status, headers, data = 500, {"Content-Type": "text/plain"}, f"double error: {exc}".encode()
        call.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def deliver_webhook(url: str, headers: dict[str, str], body: bytes, timeout: float = 10.0) -> int | None:
    """POSTs one webhook delivery; the receiver's status, or None when it could not be reached."""
    try:
        with httpx.Client(timeout=timeout) as client:
            return client.post(url, content=body, headers=headers).status_code
    except httpx.HTTPError:
        return None
