"""`reconciler.charts.transport.get` keeps its wall-clock deadline while reading: a
server that trickles its headers or body a byte at a time, each byte well inside the
socket timeout, is cut off at the deadline, not after a socket timeout per read."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from reconciler.charts.transport import FetchProblem, get


class Trickler:
    """A TCP server that sends `head` at once, then `drip` a byte every `every` seconds."""

    def __init__(self, head: bytes, drip: bytes, every: float = 0.1) -> None:
        self.head, self.drip, self.every = head, drip, every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/index.yaml"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        with client:
            client.recv(65536)
            try:
                client.sendall(self.head)
                for byte in self.drip:
                    if self.stop.wait(self.every):
                        return
                    client.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def trickle_body() -> Iterator[Trickler]:
    server = Trickler(b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n", b"x" * 4000)
    yield server
    server.close()


@pytest.fixture
def trickle_headers() -> Iterator[Trickler]:
    server = Trickler(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"y" * 4000)
    yield server
    server.close()


def _fetch(url: str, seconds: float) -> float:
    began = time.monotonic()
    with pytest.raises(FetchProblem, match="did not answer in time") as raised:
        get(url, deadline=began + seconds, max_bytes=1 << 20,
            context=ssl.create_default_context())
    assert raised.value.temporary
    return time.monotonic() - began


def test_a_trickled_body_is_cut_off_at_the_deadline(trickle_body: Trickler) -> None:
    assert _fetch(trickle_body.url, 1.0) < 1.5


def test_trickled_headers_are_cut_off_at_the_deadline(trickle_headers: Trickler) -> None:
    assert _fetch(trickle_headers.url, 1.0) < 1.5
