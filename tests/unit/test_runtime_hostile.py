"""The runtime against hostile input (findings L4, L5, L8 of the security review).

- L5: the real health server on 127.0.0.x, held by a hundred slow clients: threads stay
  bounded, slow clients are cut, and `/healthz` still answers another host.
- L4: the text log format fed strings that try to forge a line or drive a terminal.
- L8: the real `Manager` with a controller that is Forbidden until "RBAC is fixed":
  it recovers by itself, without an edit of the object.
Timing bounds are generous and only prove "did not hang".
"""

from __future__ import annotations

import json
import logging
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

import pytest
from prometheus_client import CollectorRegistry

from rollouts.runtime import (
    HealthServer,
    InformerLike,
    JsonFormatter,
    Manager,
    ReconcileResult,
    TextFormatter,
    Timers,
    WorkQueue,
)


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# -- L5: the health server ------------------------------------------------------------------


@contextmanager
def health_server(**limits: float) -> Iterator[HealthServer]:
    server = HealthServer(host="127.0.0.1", port=0, liveness=lambda: (True, "ok"),
                          readiness=lambda: (True, "ok"), registry=CollectorRegistry(),
                          **limits)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def healthz(server: HealthServer, source: str) -> tuple[int, str]:
    """GET /healthz from the address `source` (loopback has all of 127.0.0.0/8)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5,
                                  source_address=(source, 0)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def slow(server: HealthServer, source: str = "127.0.0.1") -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                    source_address=(source, 0))
    conn.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the end of the headers
    return conn


def answered(conns: Sequence[socket.socket]) -> int:
    """How many of `conns` the server has answered (or closed) already."""
    readable, _, _ = select.select(list(conns), [], [], 0)
    return len(readable)


class TestHealthServer:
    def test_a_hundred_slow_clients_hold_few_threads_and_healthz_still_answers(self) -> None:
        with health_server(timeout=30, max_concurrent=16, max_per_client=4) as server:
            before = threading.active_count()
            with ExitStack() as stack:
                conns = [stack.enter_context(slow(server)) for _ in range(100)]
                assert eventually(lambda: answered(conns) == 96), answered(conns)
                assert threading.active_count() <= before + 4 + 2
                # The kubelet (another address) is still answered at once.
                assert healthz(server, "127.0.0.2") == (200, "ok\n")

    def test_slow_clients_from_many_hosts_are_bounded_cut_and_then_healthz_answers(
            self) -> None:
        with health_server(timeout=1.0, max_concurrent=16, max_per_client=4) as server:
            before = threading.active_count()
            with ExitStack() as stack:
                conns = [stack.enter_context(slow(server, f"127.0.0.{10 + n % 25}"))
                         for n in range(100)]
                assert eventually(lambda: answered(conns) == 84), answered(conns)
                assert threading.active_count() <= before + 16 + 2
                started = time.monotonic()
                status, _ = healthz(server, "127.0.0.99")
                assert status == 503 and time.monotonic() - started < 2  # fast, no thread
                # After the deadline every slow connection is cut by the server ...
                assert eventually(lambda: answered(conns) == 100)
                # ... and the probe is answered again.
                assert eventually(lambda: _healthy(server, "127.0.0.99"))

    def test_a_client_that_trickles_is_cut_at_the_deadline(self) -> None:
        with health_server(timeout=1.0) as server, slow(server) as conn:
            def trickle() -> None:
                try:
                    for _ in range(100):
                        conn.send(b"X")  # each send resets a per-read timeout
                        time.sleep(0.2)
                except OSError:
                    return

            threading.Thread(target=trickle, daemon=True).start()
            conn.settimeout(5)
            try:
                while conn.recv(4096):
                    pass
            except ConnectionResetError:
                pass  # cut is cut

    def test_limits_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="timeout"):
            HealthServer(host="127.0.0.1", port=0, liveness=lambda: (True, ""),
                         readiness=lambda: (True, ""), registry=CollectorRegistry(),
                         timeout=0)


def _healthy(server: HealthServer, source: str) -> bool:
    try:
        return healthz(server, source)[0] == 200
    except OSError:
        return False


# -- L4: log injection ----------------------------------------------------------------------

FORGED = "main\n2026-12-03T10:00:00.000Z INFO    rollouts.controller: promoted shop/web"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("reconciler.webhook", logging.INFO, __file__, 1, message,
                              args or None, None)
    for field, value in extra.items():
        setattr(entry, field, value)
    return entry


class TestLogInjection:
    def test_a_newline_in_the_message_cannot_start_a_forged_line(self) -> None:
        text = TextFormatter().format(record("push to %s", FORGED))
        assert "\n" not in text
        assert text.endswith("push to main\\n2026-12-03T10:00:00.000Z INFO    "
                             "rollouts.controller: promoted shop/web")

    @pytest.mark.parametrize(("raw", "escaped"), [
        ("\r", "\\r"), ("\t", "\\t"), ("\x1b[2J", "\\x1b[2J"), ("\x00", "\\x00"),
        ("\x7f", "\\x7f"), ("\x85", "\\x85"), ("\x9b31m", "\\x9b31m"),
        ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
    ])
    def test_every_control_character_is_escaped(self, raw: str, escaped: str) -> None:
        text = TextFormatter().format(record("a%sb", raw))
        assert text.endswith(f"a{escaped}b")
        assert raw not in text

    def test_fields_are_escaped_and_quoted_so_they_cannot_add_lines_or_pairs(self) -> None:
        text = TextFormatter().format(record("push", ref=FORGED, repo='x" key=evil'))
        assert "\n" not in text
        assert 'ref="main\\n2026-12-03T10:00:00.000Z INFO    rollouts.controller: ' \
               'promoted shop/web"' in text
        assert 'repo="x\\" key=evil"' in text
        assert TextFormatter().format(record("m", key="shop/web")).endswith(" key=shop/web")

    def test_a_forged_line_in_an_exception_message_is_indented_in_the_traceback(
            self) -> None:
        try:
            raise RuntimeError(FORGED)
        except RuntimeError:
            entry = record("failed")
            entry.exc_info = sys.exc_info()
        lines = TextFormatter().format(entry).splitlines()
        assert lines[0].endswith("failed")
        assert all(line.startswith("    ") for line in lines[1:])
        assert any("RuntimeError: main" in line for line in lines[1:])

    def test_the_json_format_keeps_the_string_and_stays_one_line(self) -> None:
        text = JsonFormatter().format(record("push to %s", FORGED + "\x1b", ref=FORGED))
        assert "\n" not in text and "\x1b" not in text
        line = json.loads(text)
        assert line["msg"] == "push to " + FORGED + "\x1b"
        assert line["ref"] == FORGED


# -- L8: permanent errors recover -----------------------------------------------------------


class Forbidden(Exception):
    temporary = False


class SyncedInformer:
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def has_synced(self) -> bool:
        return True


class RbacController:
    """Forbidden until `rbac_fixed` is set, like a Rollout before its Role is bound."""

    name = "rollouts"

    def __init__(self) -> None:
        self.rbac_fixed = threading.Event()
        self.queue: WorkQueue | None = None
        self.attempts = 0
        self.succeeded = threading.Event()

    def informers(self) -> Sequence[InformerLike]:
        return [SyncedInformer()]

    def bind(self, queue: WorkQueue, timers: Timers) -> None:
        self.queue = queue

    def reconcile(self, key: str) -> ReconcileResult:
        self.attempts += 1
        if not self.rbac_fixed.is_set():
            raise Forbidden(f"rollouts {key} is forbidden: cannot patch replicasets")
        self.succeeded.set()
        return ReconcileResult()


def test_a_forbidden_object_recovers_once_rbac_is_fixed_without_being_edited(
        caplog: pytest.LogCaptureFixture) -> None:
    controller = RbacController()
    manager = Manager([controller], port=0, registry=CollectorRegistry(),
                      queue_base_delay=0.001, queue_max_delay=0.01,
                      queue_permanent_base_delay=0.2, queue_permanent_max_delay=0.4)
    thread = threading.Thread(target=manager.run, daemon=True)
    thread.start()
    try:
        assert eventually(lambda: controller.queue is not None)
        assert controller.queue is not None
        controller.queue.add("shop/web")  # the only event: nobody edits the object again
        assert eventually(lambda: controller.attempts >= 3)  # retried, never dropped
        controller.rbac_fixed.set()
        assert controller.succeeded.wait(10)
        attempts = controller.attempts
        time.sleep(0.5)
        assert controller.attempts == attempts  # healed: no more retries
    finally:
        manager.stop()
        thread.join(timeout=10)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all("failed permanently" in e and "forbidden" in e for e in errors)
