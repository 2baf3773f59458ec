"""Metric providers, the pure parts: Prometheus answers, the JSONPath subset, web answers,
reading provider specs, and keeping credentials out of messages."""

from __future__ import annotations

import doctest
import importlib
import math
import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from analysis.providers import (
    PROVIDER_KINDS,
    JobProvider,
    JudgeProvider,
    MeasureContext,
    MetricProvider,
    Outcome,
    PrometheusProvider,
    WebProvider,
    provider_for,
)
from analysis.providers.base import (
    describe_transport_error,
    display_url,
    scrub,
    seconds_setting,
)
from analysis.providers.jsonpath import JsonPathError, find, parse_json_path
from analysis.providers.prometheus import PrometheusRequest, QueryError, value_from_answer
from analysis.providers.web import WebRequest
from analysis.providers.web import value_from_answer as web_value

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def context(provider: dict[str, Any]) -> MeasureContext:
    return MeasureContext(namespace="ns", run_name="run", run_uid="uid", now=NOW,
                          metric={"name": "m", "provider": provider}, previous=None)


def answer(result_type: str, result: Any, **extra: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": result_type, "result": result}, **extra}


def sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1714564800.0, value]}


# --- the seam ------------------------------------------------------------------------------

class TestTheSeam:
    def test_every_provider_satisfies_the_protocol(self) -> None:
        no_client: Any = None
        providers: list[MetricProvider] = [PrometheusProvider(), WebProvider(),
                                           JobProvider(client=no_client), JudgeProvider()]
        assert [p.kind for p in providers] == list(PROVIDER_KINDS)
        assert all(isinstance(p, MetricProvider) for p in providers)

    @pytest.mark.parametrize(("metric", "expected"), [
        ({"provider": {"prometheus": {"query": "up"}}}, "prometheus"),
        ({"provider": {"web": {"url": "http://x"}}}, "web"),
        ({"provider": {"job": {"spec": {}}}}, "job"),
        ({"provider": {"datadog": {"query": "x"}}}, "datadog"),  # named, so it can be reported
        ({"provider": {}}, None),
        ({"provider": {"web": {}, "job": {}}}, None),
        ({}, None),
    ])
    def test_provider_for_names_the_one_key(self, metric: dict[str, Any],
                                            expected: str | None) -> None:
        assert provider_for(metric) == expected

    @pytest.mark.parametrize("module", ["analysis.providers.prometheus",
                                        "analysis.providers.job"])
    def test_docstring_examples_hold(self, module: str) -> None:
        result = doctest.testmod(importlib.import_module(module))
        assert result.attempted > 0 and result.failed == 0

    def test_an_outcome_is_a_value_by_default(self) -> None:
        outcome = Outcome(value=[1.0])
        assert (outcome.error, outcome.pending, outcome.metadata) == (None, False, {})


class TestSecretsStayOut:
    def test_scrub_masks_given_secrets_and_bearer_credentials(self) -> None:
        text = "failed: password hunter22 with header Authorization: Bearer abc.def-ghi"
        cleaned = scrub(text, ["hunter22", "", None])
        assert "hunter22" not in cleaned and "abc.def-ghi" not in cleaned
        assert "*****" in cleaned

    def test_display_url_drops_credentials_and_query(self) -> None:
        shown = display_url("https://user:s3cret@prom.example:9090/api?token=abc#x")
        assert shown == "https://prom.example:9090/api"

    def test_request_reprs_hide_credentials(self) -> None:
        spec = {"address": "http://p:9090", "query": "up",
                "headers": [{"key": "X-Api-Key", "value": "k3y-value"}],
                "authentication": {"basicAuth": {"username": "u", "password": "pw-value"}}}
        request = PrometheusRequest.from_spec(spec, None)
        assert "k3y-value" not in repr(request) and "pw-value" not in repr(request)
        assert set(request.secrets) == {"k3y-value", "pw-value"}
        web = WebRequest.from_spec({"url": "http://w/x", "headers": [
            {"key": "Authorization", "value": "Bearer t0ken"}]})
        assert "t0ken" not in repr(web)

    def test_a_malformed_spec_error_does_not_echo_the_token(self) -> None:
        outcome = PrometheusProvider().measure(context({"prometheus": {
            "address": "http://p:9090", "query": "up", "timeout": "soon",
            "authentication": {"bearer": {"token": "tok-123456"}}}}))
        assert outcome.error is not None and "timeout" in outcome.error
        assert "tok-123456" not in outcome.error


class TestTransportErrors:
    def test_a_refused_connection_is_named(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(OSError) as caught:
            socket.create_connection(("127.0.0.1", port), timeout=2)
        assert describe_transport_error(caught.value) == "connection refused"

    def test_wrapped_causes_are_found_without_quoting_the_wrapper(self) -> None:
        class Wrapper(Exception):
            pass

        wrapped = Wrapper("GET http://h/?token=SECRET failed", TimeoutError("timed out"))
        assert describe_transport_error(wrapped) == "timed out"


@pytest.mark.parametrize(("value", "expected"), [
    (None, 30.0), (0, 30.0), (10, 10.0), ("10", 10.0), ("1m", 60.0), ("500ms", 0.5),
])
def test_timeouts_are_seconds_or_durations(value: object, expected: float) -> None:
    assert seconds_setting(value, 30.0, "timeout") == expected


@pytest.mark.parametrize("value", [-1, "-5s", "soon"])
def test_bad_timeouts_name_the_field(value: object) -> None:
    with pytest.raises(ValueError, match=r"provider\.x\.timeout"):
        seconds_setting(value, 30.0, "provider.x.timeout")


# --- Prometheus answers --------------------------------------------------------------------

class TestPrometheusAnswers:
    def test_a_vector_is_a_list_of_floats_in_order(self) -> None:
        value, warnings = value_from_answer(answer("vector", [sample("0.95", code="200"),
                                                              sample("12")]))
        assert value == [0.95, 12.0] and warnings == []

    def test_an_empty_vector_is_an_empty_list(self) -> None:
        assert value_from_answer(answer("vector", []))[0] == []

    def test_a_matrix_gives_each_series_last_value(self) -> None:
        matrix = [{"metric": {"a": "1"}, "values": [[1, "1"], [2, "2"], [3, "3"]]},
                  {"metric": {"a": "2"}, "values": [[1, "10"], [2, "20"]]},
                  {"metric": {"a": "3"}, "values": []}]
        assert value_from_answer(answer("matrix", matrix))[0] == [3.0, 20.0]

    def test_a_scalar_is_a_float(self) -> None:
        assert value_from_answer(answer("scalar", [1714564800.0, "42.5"]))[0] == 42.5

    @pytest.mark.parametrize(("text", "check"), [
        ("NaN", math.isnan),
        ("+Inf", lambda v: v == math.inf),
        ("-Inf", lambda v: v == -math.inf),
    ])
    def test_nan_and_infinities_survive(self, text: str, check: Any) -> None:
        vector, _ = value_from_answer(answer("vector", [sample(text)]))
        scalar, _ = value_from_answer(answer("scalar", [1, text]))
        assert isinstance(vector, list) and check(vector[0]) and check(scalar)

    def test_a_string_result_is_not_a_measurement(self) -> None:
        with pytest.raises(QueryError, match="string 'hello'"):
            value_from_answer(answer("string", [1, "hello"]))

    def test_warnings_are_returned(self) -> None:
        _, warnings = value_from_answer(answer("vector", [], warnings=["PromQL info: x"]))
        assert warnings == ["PromQL info: x"]

    def test_an_error_answer_says_why(self) -> None:
        with pytest.raises(QueryError, match=r"bad_data.*parse error"):
            value_from_answer({"status": "error", "errorType": "bad_data",
                               "error": "1:5: parse error: unexpected end of input"})

    @pytest.mark.parametrize("garbage", [
        None, [], "text", {"status": "success"},
        answer("vector", [{"metric": {}, "value": "1"}]),
        answer("vector", [sample("one")]),
        answer("vector", {"not": "a list"}),
        answer("histogram-ish", []),
        answer("vector", [{"metric": {}, "histogram": [1, {"count": "2"}]}]),
    ])
    def test_garbage_is_an_error_not_a_value(self, garbage: Any) -> None:
        with pytest.raises(QueryError):
            value_from_answer(garbage)


class TestPrometheusSpec:
    def test_basic_auth_and_bearer_and_headers(self) -> None:
        request = PrometheusRequest.from_spec({
            "address": "https://prom:9090/", "query": "up", "timeout": 5, "insecure": True,
            "headers": [{"key": "X-Scope-OrgID", "value": "team-a"}],
            "authentication": {"basicAuth": {"username": "u", "password": "p"},
                               "bearer": {"token": "t"}},
        }, None)
        assert request.address == "https://prom:9090"
        assert (request.timeout, request.insecure, request.basic_auth) == (5.0, True, ("u", "p"))
        assert request.headers == {"X-Scope-OrgID": "team-a", "Authorization": "Bearer t"}

    def test_the_address_falls_back_to_the_default(self) -> None:
        request = PrometheusRequest.from_spec({"query": "up"}, "http://default:9090")
        assert request.address == "http://default:9090" and request.timeout == 30.0

    @pytest.mark.parametrize(("spec", "message"), [
        ({"query": "up"}, "address is not set"),
        ({"address": "prom:9090", "query": "up"}, "not an http"),
        ({"address": "http://p"}, "query is empty"),
        ({"address": "http://p", "query": "up", "authentication": {"sigv4": {"region": "x"}}},
         "sigv4 is not implemented"),
        ({"address": "http://p", "query": "up", "headers": [{"value": "x"}]}, "headers"),
    ])
    def test_bad_specs_are_errors_naming_the_field(self, spec: dict[str, Any],
                                                   message: str) -> None:
        outcome = PrometheusProvider(default_address="").measure(context({"prometheus": spec}))
        assert outcome.error is not None and message in outcome.error


# --- JSONPath ------------------------------------------------------------------------------

DOC = {"data": {"ok": True, "successPercent": 0.95, "items": [{"v": 1}, {"v": 2}],
                "my.key": {"x": "dotted"}, "nothing": None}}


class TestJsonPath:
    @pytest.mark.parametrize(("path", "expected"), [
        ("{$.data.ok}", True),
        ("{$.data.successPercent}", 0.95),
        ("{$.data.items[0].v}", 1),
        ("{$.data.items[-1].v}", 2),
        ("{.data.ok}", True),
        ("$.data.ok", True),
        ("data.ok", True),
        ("{ $.data.ok }", True),
        ("{$['data']['my.key'].x}", "dotted"),
        ('{$.data["my.key"].x}', "dotted"),
        ("{$.data.nothing}", None),
        ("{$.data.items}", [{"v": 1}, {"v": 2}]),
        ("{$}", DOC),
        ("{.}", DOC),
    ])
    def test_the_subset_argo_examples_use(self, path: str, expected: Any) -> None:
        assert find(DOC, parse_json_path(path), path) == expected

    @pytest.mark.parametrize(("path", "message"), [
        ("{$.data.missing}", "has no key 'missing'"),
        ("{$.data.items[5].v}", "has 2 items"),
        ("{$.data.ok.deeper}", "is a boolean, not an object"),
        ("{$.data[0]}", "not a list"),
    ])
    def test_a_path_that_leads_nowhere_says_where_it_stopped(self, path: str,
                                                             message: str) -> None:
        with pytest.raises(JsonPathError, match=message):
            find(DOC, parse_json_path(path), path)

    @pytest.mark.parametrize("path", [
        "{$..ok}", "{$.data.items[*].v}", "{$.data.items[?(@.v==1)]}", "{$.data.items[0:1]}",
        "{$.data.items[0,1]}", "{.a}{.b}", "{$.a b}",
    ])
    def test_what_we_do_not_support_is_refused(self, path: str) -> None:
        with pytest.raises(JsonPathError):
            parse_json_path(path)


# --- web answers and specs -----------------------------------------------------------------

class TestWebAnswers:
    def test_without_a_path_the_whole_json_is_the_value(self) -> None:
        assert web_value(b'{"a": [1, 2]}', ()) == {"a": [1, 2]}

    def test_a_path_narrows_the_value(self) -> None:
        assert web_value(b'{"data": {"ok": true}}', ("data", "ok"), "{$.data.ok}") is True

    def test_a_non_json_answer_is_text_without_a_path(self) -> None:
        assert web_value(b"OK\n", ()) == "OK\n"

    def test_a_non_json_answer_with_a_path_is_an_error(self) -> None:
        with pytest.raises(JsonPathError, match="not JSON"):
            web_value(b"<html>oops</html>", ("data",), "{$.data}")


class TestWebSpec:
    def test_defaults_follow_argo(self) -> None:
        request = WebRequest.from_spec({"url": "http://w/x"})
        assert (request.method, request.timeout, request.body, request.steps) == (
            "GET", 10.0, None, ())

    def test_json_body_is_sent_as_json(self) -> None:
        request = WebRequest.from_spec({"url": "http://w/x", "method": "POST",
                                        "jsonBody": {"service": "checkout"}})
        assert request.body == b'{"service": "checkout"}'
        assert request.headers["Content-Type"] == "application/json"

    def test_a_text_body_keeps_its_content_type(self) -> None:
        form = "application/x-www-form-urlencoded"
        request = WebRequest.from_spec({"url": "http://w/x", "method": "PUT", "body": "a=1",
                                        "headers": [{"key": "content-type", "value": form}]})
        assert request.headers == {"content-type": form}

    @pytest.mark.parametrize(("spec", "message"), [
        ({"url": "ftp://w/x"}, "not an http"),
        ({"url": ""}, "not an http"),
        ({"url": "http://w", "method": "DELETE"}, "not one of GET, POST, PUT"),
        ({"url": "http://w", "body": "{}"}, "need method POST or PUT"),
        ({"url": "http://w", "method": "POST", "body": "x", "jsonBody": {}}, "both"),
        ({"url": "http://w", "jsonPath": "{$..x}"}, "recursive descent"),
        ({"url": "http://w", "timeoutSeconds": -3}, "timeoutSeconds"),
    ])
    def test_bad_specs_are_errors(self, spec: dict[str, Any], message: str) -> None:
        outcome = WebProvider().measure(context({"web": spec}))
        assert outcome.error is not None and message in outcome.error
