"""Hostile endpoints against the analysis providers and controller, for real (issue 11).

Real HTTP servers on 127.0.0.1 play the attacker: one that redirects a credentialed
request to another port or from https to http (review M5), one that drips its answer a
byte a second or sends an endless one (M6), a metric aimed at the cloud metadata address
(M3). On the dev cluster's control plane: an endpoint echoing a secret argument back into
the run's status and Events (M4), and a run whose status names a Job it does not own (L7).
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from analysis.providers import (
    EgressPolicy,
    JobProvider,
    MeasureContext,
    Outcome,
    PrometheusProvider,
    WebProvider,
    default_providers,
)
from analysis.providers.transport import MAX_ANSWER_BYTES
from rollouts.kube import ANALYSIS_RUN, JOB, KubeClient
from tests.conftest import TestCluster
from tests.integration.exporter import Reply, ScriptedServer
from tests.integration.support import events, running_controller, wait_for

TOKEN, API_KEY = "s3cr3t-bearer-t0ken-4471", "k3y-9a8b7c6d"
MiB = 1024 * 1024


def measure(provider: Any, kind: str, spec: dict[str, Any]) -> Outcome:
    context = MeasureContext(namespace="ns", run_name="r", run_uid="u", previous=None,
                             now=datetime.now(UTC), metric={"name": "m", "provider": {kind: spec}})
    outcome: Outcome = provider.measure(context)
    return outcome


def web(spec: dict[str, Any], egress: EgressPolicy | None = None) -> Outcome:
    return measure(WebProvider(egress=egress), "web", spec)


def prometheus(address: str, egress: EgressPolicy | None = None, **extra: Any) -> Outcome:
    return measure(PrometheusProvider(egress=egress), "prometheus",
                   {"address": address, "query": "up", **extra})


CREDENTIALS = [{"key": "Authorization", "value": f"Bearer {TOKEN}"},
               {"key": "X-Api-Key", "value": API_KEY}, {"key": "X-Team", "value": "a"}]


@pytest.fixture
def first() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def other() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


class RawServer:
    """TCP on 127.0.0.1: every connection is handed to `serve(conn)` in its own thread.

    `connections` counts accepted connections (a refused request never gets one).
    """

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.connections = 0
        self._serve = serve
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request; its content does not matter here
                self._serve(conn)
            except OSError:
                pass  # the client gave up, as it should

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)


def drip(payload: bytes, interval: float) -> Callable[[socket.socket], None]:
    """A server that sends `payload` one byte per `interval` seconds."""
    def serve(conn: socket.socket) -> None:
        for byte in payload:
            conn.sendall(bytes([byte]))
            time.sleep(interval)
    return serve


def endless(conn: socket.socket) -> None:
    """A 200 without a length whose body never ends (until the client hangs up)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    chunk = b'{"status": "success", "data": ' + b" " * (1024 * 1024)
    conn.sendall(chunk)
    filler = b" " * (1024 * 1024)
    for _ in range(1000):  # 1 GB at most, so a broken client cannot hang the test forever
        conn.sendall(filler)


# --- M5: redirects never carry credentials to another origin ------------------------------

def test_a_redirect_to_another_port_never_carries_the_metric_headers(
    first: ScriptedServer, other: ScriptedServer
) -> None:
    other.reply("/steal", Reply(body={"ok": True}))
    url = first.reply("/check", Reply(302, "", headers={"Location": other.url("/steal")}))
    outcome = web({"url": url, "headers": CREDENTIALS})
    assert other.received == [], "the second server must never be contacted"
    assert outcome.error is not None and "redirected (HTTP 302) to another origin" in outcome.error
    assert f"127.0.0.1:{other.port}" in outcome.error
    assert TOKEN not in outcome.error and API_KEY not in outcome.error
    assert first.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"  # sent where named


@pytest.mark.parametrize("code", [301, 303, 307, 308])
def test_no_redirect_status_is_followed_elsewhere(code: int, first: ScriptedServer,
                                                  other: ScriptedServer) -> None:
    other.reply("/steal", Reply(body={"ok": True}))
    url = first.reply("/check", Reply(code, "", headers={"Location": other.url("/steal")}))
    outcome = web({"url": url, "method": "POST", "body": "{}", "headers": CREDENTIALS})
    assert other.received == []
    assert outcome.error is not None


def test_a_redirect_within_the_same_origin_is_followed_with_its_headers(
    first: ScriptedServer,
) -> None:
    first.reply("/new", Reply(body={"data": {"ok": True}}))
    url = first.reply("/old", Reply(301, "", headers={"Location": "/new"}))
    outcome = web({"url": url, "headers": CREDENTIALS, "jsonPath": "{$.data.ok}"})
    assert outcome == Outcome(value=True)
    assert [r.path for r in first.received] == ["/old", "/new"]
    assert first.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_prometheus_redirected_elsewhere_keeps_its_token(first: ScriptedServer,
                                                         other: ScriptedServer) -> None:
    other.reply("/api/v1/query", Reply(body={"status": "success", "data": {
        "resultType": "scalar", "result": [0, "1"]}}))
    first.reply("/api/v1/query", Reply(302, "", headers={
        "Location": other.url("/api/v1/query?query=up")}))
    outcome = prometheus(first.url().rstrip("/"), authentication={"bearer": {"token": TOKEN}},
                         headers=[{"key": "X-Scope-OrgID", "value": "tenant-a"}])
    assert other.received == []
    assert outcome.error is not None and "another origin" in outcome.error


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """An HTTPS server on 127.0.0.1 (self-signed) answering every request with a 302 to the
    given Location; yields a function setting that Location and returning the https URL."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("openssl is needed to make a test certificate")
    location: dict[str, str] = {}

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", location["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def redirect_to(target: str) -> str:
        location["to"] = target
        return f"https://127.0.0.1:{httpd.server_address[1]}/check"

    yield redirect_to
    httpd.shutdown()
    httpd.server_close()


def test_https_redirected_to_http_is_refused(tls_server: Callable[[str], str],
                                             other: ScriptedServer) -> None:
    other.reply("/plain", Reply(body={"ok": True}))
    url = tls_server(other.url("/plain"))
    outcome = web({"url": url, "insecure": True, "headers": CREDENTIALS})
    assert other.received == []
    assert outcome.error is not None and "from https to http" in outcome.error


# --- M6: total deadline, clamped timeouts, bounded answers --------------------------------

HEADERS_THEN_DRIP = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b" " * 200


@pytest.mark.parametrize("payload", [HEADERS_THEN_DRIP,
                                     b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200],
                         ids=["body", "headers"])
def test_a_drip_feeding_server_is_cut_off_at_the_deadline(payload: bytes) -> None:
    with RawServer(drip(payload, 0.5)) as server:
        started = time.monotonic()
        outcome = web({"url": server.url("/slow"), "timeoutSeconds": 2})
        took = time.monotonic() - started
        assert outcome.error == f"GET {server.url('/slow')} did not answer within 2s"
        assert took < 5, f"held the worker {took:.1f}s"  # per-socket timeouts: 100 s


def test_a_drip_feeding_prometheus_is_cut_off_at_the_deadline() -> None:
    with RawServer(drip(HEADERS_THEN_DRIP, 0.5)) as server:
        started = time.monotonic()
        outcome = prometheus(server.url().rstrip("/"), timeout="2s")
        assert outcome.error is not None and "did not answer within 2s" in outcome.error
        assert time.monotonic() - started < 5


def test_an_endless_prometheus_answer_is_refused_with_bounded_memory() -> None:
    with RawServer(endless) as server:
        tracemalloc.start()
        try:
            started = time.monotonic()
            outcome = prometheus(server.url().rstrip("/"), timeout="30s")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert outcome.error is not None
    assert f"answered more than {MAX_ANSWER_BYTES} bytes" in outcome.error
    assert time.monotonic() - started < 20
    assert peak < 4 * MAX_ANSWER_BYTES, f"peak {peak / MiB:.0f} MiB"


def test_an_announced_huge_answer_is_refused_before_reading() -> None:
    def announce(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n{")
        time.sleep(5)

    with RawServer(announce) as server:
        started = time.monotonic()
        for outcome in (prometheus(server.url().rstrip("/")), web({"url": server.url("/")})):
            assert outcome.error is not None and "Content-Length 10000000000" in outcome.error
        assert time.monotonic() - started < 3


# --- M3: the egress policy ----------------------------------------------------------------

@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a socket in this process tries to connect to (an observer only)."""
    seen: list[object] = []
    real = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> None:
        seen.append(address)
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return seen


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/iam/",
                                 "http://[::ffff:169.254.169.254]/",
                                 "http://[fe80::1]:8080/"])
def test_cloud_metadata_is_refused_without_connecting(url: str, connects: list[object]) -> None:
    outcome = web({"url": url})
    assert outcome.error is not None and "egress policy denies" in outcome.error
    assert connects == []
    outcome = prometheus(url.rstrip("/"))
    assert outcome.error is not None and "egress policy denies" in outcome.error
    assert connects == []


def test_through_a_proxy_the_target_is_still_checked(monkeypatch: pytest.MonkeyPatch,
                                                      first: ScriptedServer) -> None:
    monkeypatch.setenv("http_proxy", first.url())
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    outcome = web({"url": "http://169.254.169.254/latest/meta-data/"})
    assert outcome.error is not None and "egress policy denies" in outcome.error
    assert first.received == [], "the proxy must not be asked either"
    first.reply("http://checks.example/", Reply(body={"via": "proxy"}))  # a proxy sees URLs
    assert web({"url": "http://checks.example/"}) == Outcome(value={"via": "proxy"})
    assert first.received[-1].path == "http://checks.example/"


def test_a_custom_deny_list_blocks_a_local_server_by_name_and_address() -> None:
    providers = default_providers(cast(KubeClient, None), deny_networks=["127.0.0.0/8"])
    with RawServer(drip(HEADERS_THEN_DRIP, 0)) as server:
        for url in (server.url("/x"), f"http://localhost:{server.port}/x"):
            outcome = measure(providers["web"], "web", {"url": url})
            assert outcome.error is not None and "127.0.0.0/8" in outcome.error, outcome
            outcome = measure(providers["prometheus"], "prometheus",
                              {"address": url.removesuffix("/x"), "query": "up"})
            assert outcome.error is not None and "127.0.0.0/8" in outcome.error, outcome
        assert server.connections == 0


def test_the_default_policy_lets_loopback_through(first: ScriptedServer) -> None:
    url = first.reply("/ok", Reply(body={"ok": True}))
    assert measure(default_providers(cast(KubeClient, None))["web"], "web",
                   {"url": url, "jsonPath": "{$.ok}"}) == Outcome(value=True)


def test_a_bad_network_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a network"):
        default_providers(cast(KubeClient, None), deny_networks=["10.0.0.0/33"])


# --- M4: values echoing a secret are redacted in status and Events (real control plane) ----

def _echo(request: Any) -> dict[str, str]:
    return {"query": request.path.partition("?")[2], "ok": "yes"}


def test_a_secret_echoed_by_the_endpoint_never_reaches_status_or_events(
    cluster: TestCluster, namespace: str, tmp_path: Path, first: ScriptedServer
) -> None:
    secret = f"sup3r-s3cret-{uuid.uuid4().hex[:12]}"
    cluster.kubectl_run("create", "secret", "generic", "echo-token", "-n", namespace,
                        f"--from-literal=token={secret}")
    url = first.reply("/echo", Reply(body=_echo))
    web_spec = {"url": url + "?token={{args.token}}"}
    run = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "echo"},
        "spec": {
            "args": [{"name": "token", "valueFrom": {
                "secretKeyRef": {"name": "echo-token", "key": "token"}}}],
            "metrics": [
                {"name": "echoed", "count": 1, "provider": {"web": web_spec}},
                # A condition that cannot be evaluated quotes the value in its message.
                {"name": "quoted", "count": 1, "successCondition": "asInt(result.query) > 0",
                 "consecutiveErrorLimit": 0, "provider": {"web": web_spec}},
            ],
        },
    }
    with running_controller(cluster, namespace, tmp_path):
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(run))

        def stored() -> dict[str, Any]:
            out = cluster.kubectl_run("get", "analysisrun", "echo", "-n", namespace,
                                      "-o", "json").stdout
            return dict(json.loads(out))

        wait_for(lambda: stored().get("status", {}).get("phase") in ("Successful", "Failed",
                                                                     "Error"),
                 60, "the AnalysisRun to finish", lambda: stored().get("status"))
        wait_for(lambda: any(reason == "MetricSuccessful" for reason, _ in events(
            cluster, namespace, "echo")), 30, "the echoed metric's Event",
            lambda: events(cluster, namespace, "echo"))
    assert any(secret in r.path for r in first.received), "the endpoint did see the secret"
    status = stored()["status"]
    results = {r["name"]: r for r in status["metricResults"]}
    echoed = results["echoed"]["measurements"][-1]
    assert "token=*****" in echoed["value"], echoed
    assert "could not be evaluated" in results["quoted"]["measurements"][-1]["message"]
    everything = json.dumps(status) + json.dumps(events(cluster, namespace, "echo"))
    assert secret not in everything


# --- L7: terminate deletes only a Job the run owns (real control plane) ------------------

@pytest.fixture
def client(cluster: TestCluster) -> Iterator[KubeClient]:
    kube = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield kube
    kube.close()


def _job(name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "controller": True,
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {
        "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox"}]}}}}


def test_terminate_leaves_a_job_the_run_does_not_own(client: KubeClient, namespace: str) -> None:
    def run(name: str) -> dict[str, Any]:
        return client.create(ANALYSIS_RUN, namespace, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name}, "spec": {"metrics": [
                {"name": "m", "provider": {"job": {"spec": _job("x", None)["spec"]}}}]}})

    mine, theirs = run("mine"), run("theirs")
    client.create(JOB, namespace, _job("precious", None))          # owned by nobody
    client.create(JOB, namespace, _job("their-job", theirs))       # owned by another run
    client.create(JOB, namespace, _job("my-job", mine))
    provider = JobProvider(client)
    for name in ("precious", "their-job", "my-job"):
        provider.terminate(MeasureContext(
            namespace=namespace, run_name="mine", run_uid=mine["metadata"]["uid"],
            metric={"name": "m", "provider": {"job": {}}}, now=datetime.now(UTC),
            previous={"phase": "Running", "metadata": {"job-name": name}}))
    client.get(JOB, namespace, "precious")
    client.get(JOB, namespace, "their-job")

    def my_job_gone() -> bool:
        jobs = {j["metadata"]["name"]: j for j in client.list(JOB, namespace).items}
        return "my-job" not in jobs or bool(jobs["my-job"]["metadata"].get("deletionTimestamp"))

    wait_for(my_job_gone, 30, "the run's own Job to be deleted")
