"""The Git webhook against hostile clients, on real sockets on 127.0.0.x (finding M1, L4).

Each test starts a real `WebhookServer` and plays the attacker with raw sockets:
bodies too large or of unknown size, unsigned and wrongly signed requests, clients that
send their request slowly or never finish it, a hundred of them at once, and replays of
a captured signed delivery. The safe outcome is asserted: the right refusal arrives
before the body is read, nothing is triggered, threads stay bounded, and a good request
is still served. Timing bounds are generous and only prove "did not hang".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import io
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest

from reconciler.webhook import MAX_BODY, DeliveryLog, PushEvent, WebhookServer
from rollouts.runtime import TextFormatter

SECRET = "hostile-test-secret"
PUSH = json.dumps({"ref": "refs/heads/main", "repository": {
    "html_url": "https://github.com/org/shop", "default_branch": "main"}}).encode()


def github_headers(body: bytes, secret: str = SECRET, delivery: str | None = None
                   ) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}",
               "Content-Type": "application/json"}
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


class Recorder:
    def __init__(self) -> None:
        self.events: list[PushEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: PushEvent) -> list[str]:
        with self._lock:
            self.events.append(event)
        return ["shop/web"]


@contextmanager
def serving(**options: object) -> Iterator[tuple[WebhookServer, Recorder]]:
    recorder = Recorder()
    server = WebhookServer(recorder, secret=SECRET, port=0, **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server, recorder
    finally:
        server.stop()


def post(server: WebhookServer, body: bytes, headers: dict[str, str], *,
         source: str = "127.0.0.1", timeout: float = 5.0) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        # The server may answer (a 503 when busy) and close before our body is sent: its
        # answer is still in our receive buffer.
        with contextlib.suppress(BrokenPipeError):
            conn.request("POST", "/api/webhook", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        payload = json.loads(data) if data.startswith(b"{") else {"text": data.decode()}
        return response.status, payload
    finally:
        conn.close()


def raw(server: WebhookServer, data: bytes, source: str = "127.0.0.1") -> socket.socket:
    """A connection that has sent `data` (maybe not a whole request) and waits."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                    source_address=(source, 0))
    conn.sendall(data)
    return conn


def status_of(conn: socket.socket, timeout: float = 5.0) -> int:
    """The status of the answer on `conn` (0 if it was closed without one)."""
    conn.settimeout(timeout)
    answer = b""
    try:
        while not answer.endswith(b"\r\n\r\n") and b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    except ConnectionResetError:
        pass
    return int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0


def closed_by_server(conn: socket.socket, timeout: float) -> bool:
    """Whether the server closes `conn` (EOF or reset) within `timeout` seconds."""
    conn.settimeout(timeout)
    try:
        while conn.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def headers_only(headers: dict[str, str], length: int | None) -> bytes:
    lines = ["POST /api/webhook HTTP/1.1", "Host: controller"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# -- refused before the body is read ------------------------------------------------------


class TestRefusedBeforeTheBody:
    # The server would wait 60 s for a body it tried to read; each answer below arrives
    # within 5 s although no body is ever sent, so the body was not read.

    def test_an_oversized_content_length_is_413_without_reading_the_body(self) -> None:
        with serving(timeout=60) as (server, recorder):
            conn = raw(server, headers_only(github_headers(PUSH), MAX_BODY + 1))
            with conn:
                assert status_of(conn) == 413
            conn = raw(server, headers_only(github_headers(PUSH), 10**15))
            with conn:
                assert status_of(conn) == 413
        assert recorder.events == []

    def test_a_body_of_exactly_the_limit_is_read(self) -> None:
        body = PUSH + b" " * (MAX_BODY - len(PUSH))
        with serving() as (server, recorder):
            assert post(server, body, github_headers(body))[0] == 200
        assert len(recorder.events) == 1

    def test_a_request_without_content_length_is_411(self) -> None:
        with serving(timeout=60) as (server, recorder):
            with raw(server, headers_only(github_headers(PUSH), None)) as conn:
                assert status_of(conn) == 411
            chunked = {**github_headers(PUSH), "Transfer-Encoding": "chunked"}
            with raw(server, headers_only(chunked, None)) as conn:
                assert status_of(conn) == 411
        assert recorder.events == []

    @pytest.mark.parametrize("headers", [
        {"X-GitHub-Event": "push"},
        {"X-GitHub-Event": "push", "X-Hub-Signature": "sha1=" + "0" * 40},
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=short"},
        {"X-Gitlab-Event": "Push Hook"},
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guessed"},
    ])
    def test_unsigned_github_and_wrong_gitlab_tokens_are_401_before_the_body(
            self, headers: dict[str, str]) -> None:
        with serving(timeout=60) as (server, recorder), \
                raw(server, headers_only(headers, len(PUSH))) as conn:
            assert status_of(conn) == 401
        assert recorder.events == []

    def test_a_request_from_neither_provider_is_400_before_the_body(self) -> None:
        with serving(timeout=60) as (server, recorder), \
                raw(server, headers_only({"User-Agent": "curl"}, len(PUSH))) as conn:
            assert status_of(conn) == 400
        assert recorder.events == []


class TestSignatures:
    def test_wrongly_signed_github_and_gitlab_requests_are_401_and_trigger_nothing(
            self) -> None:
        with serving() as (server, recorder):
            assert post(server, PUSH, github_headers(PUSH, "wrong"))[0] == 401
            tampered = PUSH.replace(b"shop", b"evil")
            assert post(server, tampered, github_headers(PUSH))[0] == 401
            gitlab = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET + "x"}
            assert post(server, b"{}", gitlab)[0] == 401
            assert recorder.events == []
            assert post(server, PUSH, github_headers(PUSH)) == (200, {"refreshed":
                                                                      ["shop/web"]})
        assert len(recorder.events) == 1


# -- slow clients ---------------------------------------------------------------------------


class TestSlowClients:
    def test_a_client_that_stops_mid_headers_is_cut_and_does_not_block_a_good_request(
            self) -> None:
        with serving(timeout=1.0) as (server, recorder):
            slow = raw(server, b"POST /api/webhook HTTP/1.1\r\nHost: x\r\n")
            with slow:
                assert post(server, PUSH, github_headers(PUSH))[0] == 200
                assert closed_by_server(slow, timeout=5)
        assert len(recorder.events) == 1

    def test_a_client_that_trickles_its_headers_is_cut_at_the_deadline(self) -> None:
        # One byte every 0.2 s never trips a per-read timeout of 1 s: the deadline does.
        with serving(timeout=1.0) as (server, _):
            conn = raw(server, b"P")

            def trickle() -> None:
                try:
                    for byte in b"OST /api/webhook HTTP/1.1\r\nX-Padding: " + b"a" * 200:
                        conn.send(bytes([byte]))
                        time.sleep(0.2)
                except OSError:
                    return  # cut by the server (or closed by the test)

            thread = threading.Thread(target=trickle, daemon=True)
            thread.start()
            with conn:
                assert closed_by_server(conn, timeout=5)
            thread.join(timeout=60)

    def test_a_partial_body_is_cut_and_triggers_nothing(self) -> None:
        with serving(timeout=1.0) as (server, recorder):
            data = headers_only(github_headers(PUSH), len(PUSH)) + PUSH[:10]
            with raw(server, data) as conn:
                assert closed_by_server(conn, timeout=5)
        assert recorder.events == []

    def test_a_hundred_slow_clients_from_one_host_hold_few_threads_and_others_are_served(
            self) -> None:
        with serving(timeout=30, max_concurrent=16, max_per_client=4) as (server, recorder):
            before = threading.active_count()
            with ExitStack() as stack:
                conns = [stack.enter_context(raw(server, b"POST /api/webhook HTTP/1.1\r\n"))
                         for _ in range(100)]
                # 4 hold a slot; the other 96 are answered 503 at once, without a thread.
                assert eventually(lambda: _answered(conns) == 96), _answered(conns)
                assert threading.active_count() <= before + 4 + 2
                # Another host is still served, at once.
                assert post(server, PUSH, github_headers(PUSH), source="127.0.0.2",
                            timeout=5)[0] == 200
                assert _statuses(conns).count(503) == 96
        assert len(recorder.events) == 1

    def test_slow_clients_from_many_hosts_are_bounded_and_a_good_request_gets_503_fast(
            self) -> None:
        with serving(timeout=2.0, max_concurrent=16, max_per_client=4) as (server, recorder):
            before = threading.active_count()
            with ExitStack() as stack:
                conns = [stack.enter_context(raw(server, b"POST /api/webhook HTTP/1.1\r\n",
                                                 source=f"127.0.0.{10 + n % 25}"))
                         for n in range(100)]
                assert eventually(lambda: _answered(conns) == 100 - 16), _answered(conns)
                assert threading.active_count() <= before + 16 + 2
                started = time.monotonic()
                status, _ = post(server, PUSH, github_headers(PUSH), source="127.0.0.99")
                assert status == 503 and time.monotonic() - started < 2
                # Once the slow ones are cut, the same request succeeds.
                assert eventually(lambda: _succeeds(server, "127.0.0.99"))
        assert len(recorder.events) == 1


def _succeeds(server: WebhookServer, source: str) -> bool:
    try:
        return post(server, PUSH, github_headers(PUSH), source=source)[0] == 200
    except OSError:  # refused while busy: the 503 may lose the race with our send
        return False


def _answered(conns: list[socket.socket]) -> int:
    readable, _, _ = select.select(conns, [], [], 0)
    return len(readable)


def _statuses(conns: list[socket.socket]) -> list[int]:
    readable, _, _ = select.select(conns, [], [], 0)
    return [status_of(conn, timeout=1) for conn in readable]


# -- replays --------------------------------------------------------------------------------


class TestReplays:
    def test_a_replayed_delivery_is_acknowledged_and_triggers_once(self) -> None:
        with serving() as (server, recorder):
            headers = github_headers(PUSH, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
            assert post(server, PUSH, headers) == (200, {"refreshed": ["shop/web"]})
            assert post(server, PUSH, headers) == (200, {"ignored": "replayed delivery"})
            # The delivery id is not signed: a fresh one does not make a replay new.
            fresh = github_headers(PUSH, delivery="00000000-0000-0000-0000-000000000001")
            assert post(server, PUSH, fresh) == (200, {"ignored": "replayed delivery"})
            stripped = github_headers(PUSH)
            assert post(server, PUSH, stripped) == (200, {"ignored": "replayed delivery"})
            assert len(recorder.events) == 1
            # A new push (another body) is not a replay.
            other = PUSH.replace(b"refs/heads/main", b"refs/heads/dev")
            assert post(server, other, github_headers(other, delivery="d2"))[0] == 200
        assert [event.ref for event in recorder.events] == ["refs/heads/main",
                                                            "refs/heads/dev"]

    def test_an_unsigned_request_cannot_poison_the_replay_window(self) -> None:
        with serving() as (server, recorder):
            headers = github_headers(PUSH, delivery="d1")
            forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
            assert post(server, PUSH, forged)[0] == 401
            assert post(server, PUSH, headers)[0] == 200
        assert len(recorder.events) == 1

    def test_the_replay_window_is_bounded_and_forgets_the_oldest(self) -> None:
        window = DeliveryLog(size=2)
        assert window.first_time(("a",)) and window.first_time(("b",))
        assert not window.first_time(("a",))  # seen: a becomes the newest
        assert window.first_time(("c",))  # b is forgotten, a kept
        assert window.first_time(("b",)) and not window.first_time(("c",))
        with pytest.raises(ValueError, match="replay window"):
            DeliveryLog(size=0)


# -- what the webhook logs cannot forge a line (L4) ----------------------------------------


def test_a_ref_with_a_newline_cannot_forge_a_log_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("reconciler.webhook")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        forged = "refs/heads/main\n2026-12-03T10:00:00.000Z INFO    rollouts: fake \x1b[2Kline"
        body = json.dumps({"ref": forged, "repository": {
            "html_url": "https://github.com/org/shop"}}).encode()
        with serving() as (server, recorder):
            assert post(server, body, github_headers(body))[0] == 200
        assert [event.ref for event in recorder.events] == [forged]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [line for line in stream.getvalue().splitlines() if "push to" in line]
    assert len(lines) == 1
    assert "main\\n2026-12-03T10:00:00.000Z INFO" in lines[0]
    assert "\x1b" not in stream.getvalue()
    assert not any(line.startswith("2026-12-03T10:00:00.000Z") for line in
                   stream.getvalue().splitlines())
