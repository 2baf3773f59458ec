"""Providers over real HTTP to local stand-in servers: what is sent, and how slow, refusing,
misbehaving or credential-echoing servers become error outcomes (never exceptions).

The real Prometheus is in tests/integration/test_analysis_providers.py; the servers here
play the parts a real one will not: an auth proxy that echoes credentials, a hung server.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from analysis.providers import MeasureContext, Outcome, PrometheusProvider, WebProvider
from tests.integration.exporter import Received, Reply, ScriptedServer, closed_port

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PASSWORD, TOKEN, API_KEY = "pa55-w0rd-xyz", "t0ken-abc-123", "k3y-qwerty-789"
VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1714564800.0, "0.97"]}]}}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


def measure(provider: Any, kind: str, spec: dict[str, Any]) -> Outcome:
    context = MeasureContext(namespace="ns", run_name="r", run_uid="u", now=NOW, previous=None,
                             metric={"name": "m", "provider": {kind: spec}})
    outcome: Outcome = provider.measure(context)
    return outcome


def prometheus(address: str, **extra: Any) -> Outcome:
    return measure(PrometheusProvider(), "prometheus", {"address": address, "query": "up", **extra})


def assert_no_credentials(text: str | None) -> None:
    assert text is not None
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, TOKEN, API_KEY, basic):
        assert secret not in text, text


def echo_headers(request: Received) -> str:
    return f"denied; you sent {request.headers}"


class TestPrometheusOverHttp:
    def test_the_query_and_credentials_are_sent(self, server: ScriptedServer) -> None:
        server.reply("/api/v1/query", Reply(body=VECTOR))
        outcome = prometheus(server.url(), headers=[{"key": "X-Scope-OrgID", "value": "a"}],
                             authentication={"basicAuth": {"username": "admin",
                                                           "password": PASSWORD}})
        assert outcome == Outcome(value=[0.97])
        request = server.received[-1]
        assert "query=up" in request.path
        # HTTP header names are case-insensitive; urllib sends this one as X-Scope-Orgid
        assert {k.lower(): v for k, v in request.headers.items()}["x-scope-orgid"] == "a"
        expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected}"

    def test_a_bearer_token_is_sent(self, server: ScriptedServer) -> None:
        server.reply("/api/v1/query", Reply(body=VECTOR))
        prometheus(server.url(), authentication={"bearer": {"token": TOKEN}})
        assert server.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"

    def test_warnings_go_to_metadata(self, server: ScriptedServer) -> None:
        server.reply("/api/v1/query", Reply(body={**VECTOR, "warnings": ["slow", "partial"]}))
        assert prometheus(server.url()).metadata == {"warnings": '"slow", "partial"'}

    def test_a_proxy_echoing_credentials_does_not_leak_them(self, server: ScriptedServer) -> None:
        server.reply("/api/v1/query", Reply(401, echo_headers))
        for auth in ({"basicAuth": {"username": "admin", "password": PASSWORD}},
                     {"bearer": {"token": TOKEN}}):
            outcome = prometheus(server.url(), authentication=auth,
                                 headers=[{"key": "X-Api-Key", "value": API_KEY}])
            assert outcome.error is not None and "HTTP 401" in outcome.error
            assert_no_credentials(outcome.error)

    def test_credentials_in_the_address_are_not_shown(self) -> None:
        outcome = prometheus(f"http://admin:{PASSWORD}@127.0.0.1:{closed_port()}")
        assert outcome.error is not None and "connection refused" in outcome.error
        assert_no_credentials(outcome.error)

    def test_a_refused_connection_is_an_error_at_once(self) -> None:
        started = time.monotonic()
        outcome = prometheus(f"http://127.0.0.1:{closed_port()}")
        assert time.monotonic() - started < 2, "no retries with backoff"
        assert outcome.error is not None and "connection refused" in outcome.error

    def test_a_slow_server_times_out(self, server: ScriptedServer) -> None:
        server.reply("/api/v1/query", Reply(body=VECTOR, delay=3))
        started = time.monotonic()
        outcome = prometheus(server.url(), timeout="500ms")
        assert time.monotonic() - started < 2.5
        assert outcome.error is not None and "did not answer within 0.5s" in outcome.error

    @pytest.mark.parametrize(("reply", "message"), [
        (Reply(502, "<html>Bad Gateway</html>"), "answered HTTP 502: <html>Bad Gateway</html>"),
        (Reply(200, "<html>login</html>"), "not JSON"),
        (Reply(200, {"status": "success", "data": {"resultType": "string",
                                                   "result": [1, "x"]}}), "string 'x'"),
        (Reply(422, {"status": "error", "errorType": "execution", "error": "too many samples"}),
         "refused the query (HTTP 422, execution): too many samples"),
    ])
    def test_misbehaving_servers_are_errors(self, server: ScriptedServer, reply: Reply,
                                            message: str) -> None:
        server.reply("/api/v1/query", reply)
        outcome = prometheus(server.url())
        assert outcome.value is None and outcome.error is not None
        assert message in outcome.error


def web(spec: dict[str, Any]) -> Outcome:
    return measure(WebProvider(), "web", spec)


class TestWebOverHttp:
    def test_post_with_a_json_body_and_headers(self, server: ScriptedServer) -> None:
        url = server.reply("/check", Reply(body={"data": {"ok": True}}))
        outcome = web({"url": url + "?svc=a", "method": "POST", "jsonBody": {"svc": "a"},
                       "headers": [{"key": "X-Team", "value": "a"}], "jsonPath": "{$.data.ok}"})
        assert outcome == Outcome(value=True)
        request = server.received[-1]
        assert (request.method, request.path, request.body) == ("POST", "/check?svc=a",
                                                                 b'{"svc": "a"}')
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Team"] == "a"

    def test_a_text_answer_is_the_value_without_a_path(self, server: ScriptedServer) -> None:
        assert web({"url": server.reply("/ok", Reply(body="OK"))}) == Outcome(value="OK")

    def test_any_2xx_is_an_answer(self, server: ScriptedServer) -> None:
        url = server.reply("/accepted", Reply(202, {"queued": 3}))
        assert web({"url": url, "jsonPath": "{$.queued}"}) == Outcome(value=3)

    def test_a_path_that_leads_nowhere_is_an_error(self, server: ScriptedServer) -> None:
        url = server.reply("/check", Reply(body={"data": {}}))
        outcome = web({"url": url, "jsonPath": "{$.data.ok}"})
        assert outcome.error is not None and "$.data has no key 'ok'" in outcome.error

    def test_a_non_2xx_names_the_status_without_leaking(self, server: ScriptedServer) -> None:
        url = server.reply("/check", Reply(403, echo_headers))
        outcome = web({"url": url + f"?token={TOKEN}", "headers": [
            {"key": "Authorization", "value": f"Bearer {TOKEN}"},
            {"key": "X-Api-Key", "value": API_KEY}]})
        assert outcome.error is not None
        assert outcome.error.startswith(f"GET {server.url('/check')} answered HTTP 403")
        assert_no_credentials(outcome.error)

    def test_a_slow_server_times_out(self, server: ScriptedServer) -> None:
        url = server.reply("/slow", Reply(body={}, delay=3))
        started = time.monotonic()
        outcome = web({"url": url, "timeoutSeconds": 1})
        assert time.monotonic() - started < 2.5
        assert outcome.error == f"GET {url} did not answer within 1s"

    def test_a_refused_connection_is_an_error(self) -> None:
        outcome = web({"url": f"http://127.0.0.1:{closed_port()}/x"})
        assert outcome.error is not None and outcome.error.endswith("failed: connection refused")

    def test_an_unknown_host_is_an_error(self) -> None:
        outcome = web({"url": "http://no-such-host.invalid/x", "timeoutSeconds": 5})
        assert outcome.error is not None and "failed:" in outcome.error
