"""The Git webhook of a real controller process under attack (finding M1).

`rollouts controller --controllers reconciler` runs as a child process with a webhook
secret, syncing the guestbook app from a `git daemon` repository to the real control
plane. The test plays an attacker on the webhook port: a hundred slow connections, a
body too large to read, requests of unknown length, unsigned and wrongly signed pushes,
and replays of a captured signed push. The controller must refuse each without
triggering anything, keep serving a legitimate sender meanwhile, apply the signed push,
and stay up.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import select
import socket
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    GUESTBOOK_IMAGE,
    SECRET,
    Reconciler,
    app_status,
    application,
    apply,
    compat_repo,
    daemon,
    guestbook_with,
    image_of,
    running_reconciler,
    wait_app,
)
from tests.integration.support import wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

ONE_MIB = 1024 * 1024


def push_body(url: str, after: str) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "after": after, "repository": {
        "html_url": url.replace("git://", "https://"), "clone_url": url + ".git",
        "default_branch": "main"}}).encode()


def signed(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}",
            "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}


def post(controller: Reconciler, body: bytes, headers: dict[str, str],
         source: str = "127.0.0.1") -> tuple[int, Any]:
    deadline = time.monotonic() + 20
    while True:  # the webhook port opens a moment after the process starts
        conn = http.client.HTTPConnection("127.0.0.1", controller.webhook_port, timeout=10,
                                          source_address=(source, 0))
        try:
            conn.request("POST", "/api/webhook", body=body, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            conn.close()


def raw(controller: Reconciler, data: bytes, source: str = "127.0.0.1") -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", controller.webhook_port), timeout=10,
                                    source_address=(source, 0))
    conn.sendall(data)
    return conn


def answer_status(conn: socket.socket) -> int:
    conn.settimeout(5)
    answer = conn.recv(4096)
    return int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0


def headers_only(headers: dict[str, str], length: int | None) -> bytes:
    lines = ["POST /api/webhook HTTP/1.1", "Host: controller",
             *(f"{key}: {value}" for key, value in headers.items())]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_webhook_refuses_hostile_requests_and_keeps_serving(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    url = daemon.url("apps")
    apply(cluster, namespace, application("guestbook", url, "guestbook", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=600) as controller:
        first = repo.head()
        wait_app(cluster, namespace, "guestbook", revision=first)
        second = repo.commit(guestbook_with("v6"), "new image")
        body = push_body(url, second)
        assert post(controller, b"{}", {"X-GitHub-Event": "ping"})[0] == 401  # port is up

        with ExitStack() as stack:
            # A hundred slow clients from one host: they hold at most a few threads.
            slow = [stack.enter_context(raw(controller, b"POST /api/webhook HTTP/1.1\r\n"))
                    for _ in range(100)]
            wait_for(lambda: len(select.select(slow, [], [], 0)[0]) >= 90, 10,
                     "the slow clients beyond the per-client limit to be answered 503")

            # Refused before the body is read (no body is ever sent): 413, 411, 401.
            refusals = [
                (headers_only(signed(body, "d-big"), ONE_MIB + 1), 413),
                (headers_only(signed(body, "d-nolength"), None), 411),
                (headers_only({"X-GitHub-Event": "push"}, len(body)), 401),
                (headers_only({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"},
                              len(body)), 401),
            ]
            for data, status in refusals:
                with raw(controller, data, source="127.0.0.3") as conn:
                    assert answer_status(conn) == status, data[:80]
            assert post(controller, body, signed(body, "d-wrong", "not the secret"),
                        source="127.0.0.3")[0] == 401
            time.sleep(2)
            assert image_of(cluster, namespace, "deployment", "guestbook-ui") == \
                GUESTBOOK_IMAGE.format(tag="v5")

            # A legitimate sender (another host) is served while the slow ones wait.
            assert post(controller, body, signed(body, "d-1"), source="127.0.0.2") == \
                (200, {"refreshed": [f"{namespace}/guestbook"]})
            wait_for(lambda: image_of(cluster, namespace, "deployment", "guestbook-ui") ==
                     GUESTBOOK_IMAGE.format(tag="v6"), 15, "the signed push to be applied")

            # The slow clients are cut by the server (10 s per connection).
            held = [conn for conn in slow if not select.select([conn], [], [], 0)[0]]
            wait_for(lambda: all(select.select([conn], [], [], 0)[0] for conn in held), 30,
                     "the slow connections to be closed by the controller")

        # A replay of the captured push, with its id or a fresh one, triggers nothing:
        # a newer commit is not picked up by it (polling is 10 minutes away).
        third = repo.commit(guestbook_with("v7"), "newer image")
        replayed = {"ignored": "replayed delivery"}
        assert post(controller, body, signed(body, "d-1"), source="127.0.0.2") == \
            (200, replayed)
        assert post(controller, body, signed(body, "d-fresh"), source="127.0.0.2") == \
            (200, replayed)
        time.sleep(3)
        assert app_status(cluster, namespace, "guestbook")["sync"]["revision"] == second

        # The next real push is applied: the controller is up and serving.
        newer = push_body(url, third)
        assert post(controller, newer, signed(newer, "d-2"))[0] == 200
        wait_app(cluster, namespace, "guestbook", revision=third, timeout=15)
        assert controller.process is not None and controller.process.poll() is None
