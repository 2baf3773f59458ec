"""A threading HTTP server that a slow or hostile client cannot exhaust.

The stdlib `ThreadingHTTPServer` starts one thread per connection, without limit, and
its handlers wait forever for a client that sends its request a byte at a time
(slowloris). `BoundedHTTPServer` keeps the stdlib handler model and adds three bounds:

- **time**: every accepted connection gets a socket timeout of `timeout` seconds for
  each read and write, *and* a deadline of `timeout` seconds in all: a client that
  trickles a byte every few seconds is cut off (the serving loop shuts its socket down
  when the deadline passes, which wakes the handler thread blocked in `recv`);
- **threads**: at most `max_concurrent` connections are handled at once; one more is
  answered `503` at once on the accepting thread (no new thread) and closed a moment
  later (up to `LINGER_MAX` refused sockets wait `LINGER_SECONDS`, so the client can
  finish sending and read the 503 instead of a TCP reset);
- **fairness**: at most `max_per_client` of those slots go to one client address, so
  one host holding slow connections cannot starve the others (the kubelet's probes,
  GitHub's deliveries): its next connection gets the `503` instead.

Users: `rollouts.runtime.health.HealthServer` (`/healthz`, `/readyz`, `/metrics`) and
`reconciler.webhook.WebhookServer` (`POST /api/webhook`). Handlers are ordinary
`BaseHTTPRequestHandler` subclasses (HTTP/1.0: one request per connection).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_MAX_PER_CLIENT",
    "DEFAULT_REQUEST_TIMEOUT",
    "BoundedHTTPServer",
]

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 10.0
"""Seconds a connection may take in all (and each socket read or write) before it is cut."""

DEFAULT_MAX_CONCURRENT = 16
"""Connections handled at once (one thread each); more are answered 503."""

DEFAULT_MAX_PER_CLIENT = 4
"""Of those, how many one client address may hold; more from it are answered 503."""

LISTEN_BACKLOG = 128
"""Connections the kernel queues before `accept` (the stdlib default of 5 drops SYNs)."""

LINGER_SECONDS = 1.0
"""How long a refused (503) connection stays open before it is closed."""

LINGER_MAX = 64
"""Refused connections kept open at once; beyond that they are closed at once."""

_DRAIN_LIMIT = 64 * 1024  # bytes of an unread request swallowed before closing (see _drain)

_BUSY_BODY = b"busy: too many requests in progress; retry in a moment\n"
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class BoundedHTTPServer(ThreadingHTTPServer):
    """`ThreadingHTTPServer` with a per-connection deadline and bounded threads.

    Serve it with `serve_forever(poll_interval)`: the deadlines are enforced once per
    poll, so a connection may outlive its deadline by up to `poll_interval` seconds.
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"the request timeout must be > 0 seconds, got {timeout}")
        if max_concurrent < 1 or max_per_client < 1:
            raise ValueError(
                f"max_concurrent and max_per_client must be >= 1, got {max_concurrent} "
                f"and {max_per_client}"
            )
        self.request_timeout = timeout
        self.max_concurrent = max_concurrent
        self.max_per_client = max_per_client
        self._lock = threading.Lock()
        self._deadlines: dict[socket.socket, float] = {}
        self._per_client: dict[str, int] = {}
        self._clients: dict[socket.socket, str] = {}
        self._lingering: deque[tuple[float, socket.socket]] = deque()
        super().__init__(address, handler)

    @property
    def active(self) -> int:
        """Connections being handled now."""
        with self._lock:
            return len(self._clients)

    # -- socketserver hooks ---------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        client = str(client_address[0]) if isinstance(client_address, tuple) else ""
        with self._lock:
            busy = (
                len(self._clients) >= self.max_concurrent
                or self._per_client.get(client, 0) >= self.max_per_client
            )
            if not busy:
                self._clients[request] = client
                self._per_client[client] = self._per_client.get(client, 0) + 1
                self._deadlines[request] = time.monotonic() + self.request_timeout
        if busy:
            log.debug("refusing a connection from %s: %d in progress", client, self.active)
            self._refuse(request)
            return
        request.settimeout(self.request_timeout)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.shutdown_request(request)
            raise

    def shutdown_request(self, request: Any) -> None:
        # Forget the socket before it is closed, under the lock the reaper holds while
        # it shuts sockets down: the reaper never touches a closed socket.
        with self._lock:
            self._deadlines.pop(request, None)
            client = self._clients.pop(request, None)
            if client is not None:
                left = self._per_client.get(client, 1) - 1
                if left > 0:
                    self._per_client[client] = left
                else:
                    self._per_client.pop(client, None)
        super().shutdown_request(request)

    def _refuse(self, sock: socket.socket) -> None:
        """Answer 503 without a thread and without waiting on the client."""
        _drain(sock)
        # If the client is gone or not reading, closing is all that is left.
        with contextlib.suppress(OSError):
            sock.send(_BUSY)
            sock.shutdown(socket.SHUT_WR)
        if len(self._lingering) < LINGER_MAX:
            self._lingering.append((time.monotonic() + LINGER_SECONDS, sock))
        else:
            _close(sock)

    def service_actions(self) -> None:
        """Cut connections past their deadline (`serve_forever` calls this every poll)."""
        now = time.monotonic()
        while self._lingering and self._lingering[0][0] <= now:
            _close(self._lingering.popleft()[1])
        with self._lock:
            overdue = [sock for sock, deadline in self._deadlines.items() if deadline <= now]
            for sock in overdue:
                del self._deadlines[sock]  # cut once; `shutdown_request` still releases it
                _cut(sock)
        if overdue:
            log.debug("cut %d connection(s) that took longer than %g s", len(overdue),
                      self.request_timeout)

    def server_close(self) -> None:
        """Close the listening socket and cut every connection still being handled."""
        super().server_close()
        while self._lingering:
            _close(self._lingering.popleft()[1])
        with self._lock:
            for sock in list(self._deadlines):
                _cut(sock)
            self._deadlines.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (or was cut) is routine: no traceback on stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def _cut(sock: socket.socket) -> None:
    """Wake the handler blocked on `sock` (its reads see EOF) without closing the fd."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError as error:
        if error.errno not in (errno.ENOTCONN, errno.EBADF):
            log.debug("cutting a connection failed: %s", error)


def _drain(sock: socket.socket) -> None:
    """Read what the client already sent, without blocking.

    Closing a socket with unread input sends a TCP reset, which may destroy the 503
    before the client reads it.
    """
    try:
        sock.setblocking(False)
        drained = 0
        while drained < _DRAIN_LIMIT:
            chunk = sock.recv(_DRAIN_LIMIT - drained)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass  # nothing (more) to read now


def _close(sock: socket.socket) -> None:
    _drain(sock)
    with contextlib.suppress(OSError):
        sock.close()
