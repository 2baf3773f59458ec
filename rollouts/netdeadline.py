"""A wall-clock deadline over a whole HTTP exchange, for clients that talk to hostile
endpoints: the analysis providers (`analysis.providers.transport`) and the Helm
repository / OCI registry client (`reconciler.charts.transport`).

A socket timeout bounds each operation, not the exchange: a server that sends one byte
just before every timeout keeps a reader busy for as long as it likes. `Deadline` is the
total: the client `watch`es each socket it opens, and when the deadline passes the
shared `WATCHDOG` shuts those sockets down, which wakes a read blocked anywhere (in
`http.client`'s status line, headers or body). The client then sees an error or an early
end of the body and asks `expired` which it was. One daemon thread serves every
deadline of the process: a `threading.Timer` per exchange would cost a thread start
each.

`read_body` reads a response body up to a byte limit under a deadline. Standard library
only, so both of its users, which may not import each other, can import it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable

__all__ = ["WATCHDOG", "Deadline", "Watchdog", "read_body"]

_CHUNK = 64 * 1024


class Deadline:
    """The total deadline of one exchange, `seconds` from `start()`: when it passes, the
    watchdog shuts the watched sockets down (unless `cancel` came first)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.ends = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._over = False  # cancelled or expired: nothing more to shut

    def start(self) -> None:
        self.ends = time.monotonic() + self.seconds
        WATCHDOG.watch(self)

    def cancel(self) -> None:
        with self._lock:
            self._over = True
            self._sockets.clear()  # the watchdog keeps this object until `ends`

    def remaining(self) -> float:
        """Seconds left; `TimeoutError` when none are."""
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once when it has passed)."""
        with self._lock:
            if self.expired:
                _shut(sock)
            self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self._over = self.expired = True
            for sock in self._sockets:
                _shut(sock)


class Watchdog:
    """One daemon thread that expires every `Deadline` at its time.

    Deadlines wait in a heap by end time; a cancelled one stays there until its time and
    is then dropped (`expire` does nothing for it), so an exchange pays a heap push, and
    wakes the thread only when its deadline is the earliest.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()  # ties never compare two deadlines
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._changed:
            heapq.heappush(self._heap, (deadline.ends, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="net-deadlines")
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due: list[Deadline] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    self._changed.wait(self._heap[0][0] - now if self._heap else None)
                    continue
            for deadline in due:
                deadline.expire()


WATCHDOG = Watchdog()


def read_body(read: Callable[[int], bytes], deadline: Deadline, limit: int
              ) -> tuple[bytes, bool]:
    """The body `read` yields, at most `limit` bytes, and whether there was more (the
    caller refuses or keeps the start). `TimeoutError` when the deadline passed: the
    watchdog's shutdown looks like the end of the body, so `expired` is asked after
    every read."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = read(_CHUNK)
        if deadline.expired:
            raise TimeoutError("deadline passed")
        if not chunk:
            return b"".join(chunks), False
        total += len(chunk)
        if total > limit:
            chunks.append(chunk[: limit - total + len(chunk)])
            return b"".join(chunks), True
        chunks.append(chunk)


def _shut(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the TLS layer must not be torn down
    # under a reader in another thread, only its file descriptor woken up.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
