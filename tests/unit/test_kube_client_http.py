"""`KubeClient` on the wire, against a loopback HTTP server that records what it is sent.

Not a stand-in for the API server (the integration tests use the real one): this pins
what a request looks like on the socket (auth header, content type, body), how answers
and transport failures are mapped, and that a watch blocked in a read ends at `close()`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

from rollouts.kube import (
    CONFIG_MAP,
    NAMESPACE,
    ROLLOUT,
    AlreadyExists,
    Informer,
    KubeClient,
    KubeError,
    NotFound,
    NotLeader,
    Unavailable,
)

TOKEN = "s3cr3t-t0ken"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Answer = tuple[int, Any]


@dataclass
class Loopback:
    answer: Callable[[Seen], Answer] = lambda seen: (200, {"kind": "Status"})
    seen: list[Seen] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server() -> Iterator[Loopback]:
    loopback = Loopback()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path, dict(self.headers.items()),
                        json.loads(raw) if raw else None)
            loopback.seen.append(seen)
            if "watch=true" in self.path:
                self._stream_watch()
                return
            code, body = loopback.answer(seen)
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream_watch(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            event = json.dumps({"type": "ADDED", "object": {"metadata": {
                "name": "a", "resourceVersion": "5"}}}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            time.sleep(30)  # then nothing: the client sits in a blocked read

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    loopback.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield loopback
    httpd.shutdown()
    httpd.server_close()


def client_for(url: str) -> KubeClient:
    configuration = k8s_client.Configuration(host=url)
    configuration.api_key = {"BearerToken": f"Bearer {TOKEN}"}
    return KubeClient(configuration, timeout=(2.0, 5.0))


class TestRequests:
    def test_get_sends_credentials_and_returns_the_object(self, server: Loopback) -> None:
        server.answer = lambda seen: (200, {"kind": "ConfigMap", "metadata": {"name": "c"}})
        client = client_for(server.url)
        assert client.get(CONFIG_MAP, "ns", "c") == {"kind": "ConfigMap",
                                                      "metadata": {"name": "c"}}
        (seen,) = server.seen
        assert (seen.method, seen.path) == ("GET", "/api/v1/namespaces/ns/configmaps/c")
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["Accept"] == "application/json"

    def test_create_fills_in_api_version_and_kind(self, server: Loopback) -> None:
        server.answer = lambda seen: (201, seen.body)
        client = client_for(server.url)
        created = client.create(CONFIG_MAP, "ns", {"metadata": {"name": "c"}})
        assert created == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        assert server.seen[0].headers["Content-Type"] == "application/json"
        assert server.seen[0].path == (
            "/api/v1/namespaces/ns/configmaps?fieldManager=rollouts-controller"
        )

    def test_apply_sends_json_as_apply_patch_yaml(self, server: Loopback) -> None:
        server.answer = lambda seen: (200, seen.body)
        client = client_for(server.url)
        body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "r"}, "spec": {"replicas": 2}}
        assert client.apply(ROLLOUT, "ns", body, field_manager="me") == body
        seen = server.seen[0]
        assert seen.method == "PATCH"
        assert seen.headers["Content-Type"] == "application/apply-patch+yaml"
        assert seen.path.endswith("/rollouts/r?fieldManager=me&force=true")

    def test_json_patch_stays_a_json_patch(self, server: Loopback) -> None:
        server.answer = lambda seen: (200, {"metadata": {"name": "r"}})
        ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
        client_for(server.url).patch(ROLLOUT, "ns", "r", ops, "json")
        assert server.seen[0].headers["Content-Type"] == "application/json-patch+json"
        assert server.seen[0].body == ops

    def test_requests_are_counted_by_verb(self, server: Loopback) -> None:
        server.answer = lambda seen: (200, {"items": [], "metadata": {"resourceVersion": "9"}})
        client = client_for(server.url)
        client.list(CONFIG_MAP, "ns")
        client.list(CONFIG_MAP)
        client.patch_status(ROLLOUT, "ns", "r", {"status": {}})
        client.delete(CONFIG_MAP, "ns", "c")
        assert client.requests_by_verb() == {"list": 2, "patch": 1, "delete": 1}
        assert client.request_count == 4


class TestAnswers:
    def test_error_statuses_are_mapped(self, server: Loopback) -> None:
        server.answer = lambda seen: (409, {"kind": "Status", "reason": "AlreadyExists",
                                            "message": 'configmaps "c" already exists'})
        with pytest.raises(AlreadyExists, match='configmaps "c" already exists'):
            client_for(server.url).create(CONFIG_MAP, "ns", {"metadata": {"name": "c"}})

    def test_delete_of_a_missing_object_is_false(self, server: Loopback) -> None:
        server.answer = lambda seen: (404, {"kind": "Status", "reason": "NotFound",
                                            "message": "not found"})
        assert client_for(server.url).delete(CONFIG_MAP, "ns", "c") is False
        with pytest.raises(NotFound):
            client_for(server.url).get(CONFIG_MAP, "ns", "c")

    def test_list_follows_continue_tokens_and_types_the_items(self, server: Loopback) -> None:
        def pages(seen: Seen) -> Answer:
            if "continue=" not in seen.path:
                return 200, {"items": [{"metadata": {"name": "a"}}],
                             "metadata": {"continue": "next", "resourceVersion": "7"}}
            return 200, {"items": [{"metadata": {"name": "b"}}],
                         "metadata": {"resourceVersion": "7"}}

        server.answer = pages
        result = client_for(server.url).list(CONFIG_MAP, "ns")
        assert [i["metadata"]["name"] for i in result.items] == ["a", "b"]
        assert all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in result.items)
        assert result.resource_version == "7"
        assert "limit=500" in server.seen[0].path

    def test_an_answer_that_is_not_json_is_unavailable(self, server: Loopback) -> None:
        server.answer = lambda seen: (200, b"<html>")
        with pytest.raises(Unavailable, match="not JSON"):
            client_for(server.url).get(CONFIG_MAP, "ns", "c")


class TestTransport:
    def test_a_refused_connection_is_unavailable_without_credentials(self) -> None:
        client = client_for("http://127.0.0.1:1")
        with pytest.raises(Unavailable) as caught:
            client.get(CONFIG_MAP, "ns", "c")
        error = caught.value
        assert error.temporary
        assert "connection refused" in str(error)
        assert "127.0.0.1:1" in str(error)
        assert TOKEN not in str(error) and "\n" not in str(error)

    def test_emit_event_failure_is_logged_not_raised(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        regarding = {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "c", "namespace": "ns"}}
        client = client_for("http://127.0.0.1:1")
        assert client.emit_event(regarding, "Normal", "Test", "m") is False
        assert "could not record event Test on ConfigMap ns/c" in caplog.text

    def test_closing_a_watch_wakes_a_blocked_reader(self, server: Loopback) -> None:
        stream = client_for(server.url).watch(CONFIG_MAP, "ns", "1", timeout_seconds=60)
        received: list[str] = []
        ended = threading.Event()

        def read() -> None:
            received.extend(e.type for e in stream)
            ended.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == ["ADDED"]
        began = time.monotonic()
        stream.close()
        assert ended.wait(2), "the reader is still blocked after close()"
        assert time.monotonic() - began < 2
        query = server.seen[0].path.split("?", 1)[1]
        assert "watch=true" in query and "allowWatchBookmarks=true" in query
        assert "resourceVersion=1" in query and "timeoutSeconds=60" in query


class TestKubeconfig:
    def test_a_kubeconfig_gives_the_server_and_the_token(
        self, server: Loopback, tmp_path: Path
    ) -> None:
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(KUBECONFIG.format(server=server.url, token=TOKEN))
        server.answer = lambda seen: (200, {"kind": "Namespace", "metadata": {"name": "x"}})
        client = KubeClient.from_kubeconfig(str(kubeconfig), context="dev")
        assert client.host == server.url
        client.get(NAMESPACE, None, "x")
        assert server.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
        assert server.seen[0].headers["User-Agent"] == "rollouts/0.1.0"

    def test_kubeconfig_comes_from_the_environment(
        self, server: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(KUBECONFIG.format(server=server.url, token=TOKEN))
        monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{kubeconfig}")
        assert KubeClient.from_kubeconfig().host == server.url

    def test_a_missing_kubeconfig_says_what_to_do(self, tmp_path: Path) -> None:
        with pytest.raises(KubeError, match="does not exist; pass --kubeconfig"):
            KubeClient.from_kubeconfig(str(tmp_path / "nope"))

    def test_an_unknown_context_says_what_to_do(self, tmp_path: Path) -> None:
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(KUBECONFIG.format(server="http://127.0.0.1:1", token=TOKEN))
        with pytest.raises(KubeError, match=r"with context prod .*--context") as caught:
            KubeClient.from_kubeconfig(str(kubeconfig), context="prod")
        assert TOKEN not in str(caught.value)


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {{server: "{server}"}}
users:
- name: admin
  user: {{token: "{token}"}}
contexts:
- name: dev
  context: {{cluster: dev, user: admin}}
current-context: dev
"""


def test_an_informer_outlives_an_absent_api_server_and_still_stops_promptly() -> None:
    informer = Informer(client_for("http://127.0.0.1:1"), CONFIG_MAP)
    informer.start()
    assert not informer.wait_for_sync(1.2)  # two failed lists, backing off, thread alive
    began = time.monotonic()
    informer.stop()
    assert time.monotonic() - began < 2
    assert informer.list() == [] and not informer.has_synced()


class TestWriteFence:
    def test_a_fenced_view_sends_no_write_once_it_may_not(self, server: Loopback) -> None:
        server.answer = lambda seen: (200, {"kind": "ConfigMap", "metadata": {"name": "c"}})
        client = client_for(server.url)
        leading = [True]
        fenced = client.fenced(lambda: leading[0])
        fenced.patch(CONFIG_MAP, "ns", "c", {"data": {"a": "1"}})
        leading[0] = False
        for write in (lambda: fenced.patch(CONFIG_MAP, "ns", "c", {"data": {"a": "2"}}),
                      lambda: fenced.create(CONFIG_MAP, "ns", {"metadata": {"name": "d"}}),
                      lambda: fenced.apply(CONFIG_MAP, "ns", {"metadata": {"name": "c"}}, "m"),
                      lambda: fenced.delete(CONFIG_MAP, "ns", "c")):
            with pytest.raises(NotLeader, match="no longer holds the leader Lease"):
                write()
        assert not fenced.emit_event({"kind": "ConfigMap", "metadata": {
            "name": "c", "namespace": "ns"}}, "Normal", "Reason", "message")
        assert fenced.get(CONFIG_MAP, "ns", "c")["metadata"]["name"] == "c"  # reads go on
        client.patch(CONFIG_MAP, "ns", "c", {"data": {"a": "3"}})  # the elector's client
        assert [(s.method, (s.body or {}).get("data")) for s in server.seen] == [
            ("PATCH", {"a": "1"}), ("GET", None), ("PATCH", {"a": "3"})]
        assert client.request_count == fenced.request_count == 3  # one set of counts
