"""Metric providers against real parts: the dev cluster's Prometheus scraping a test
exporter, a local HTTP server for web metrics, and Jobs run by the API server, the Job
controller and kwok (pods finish after ~1 s; `rollouts.dev/exit-code: "1"` makes them fail).
"""

from __future__ import annotations

import base64
import math
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from analysis.providers import (
    JobProvider,
    MeasureContext,
    Outcome,
    PrometheusProvider,
    WebProvider,
)
from rollouts.kube import ANALYSIS_RUN, JOB, KubeClient, NotFound
from tests.conftest import TestCluster
from tests.integration.exporter import (
    Exporter,
    Reply,
    ScriptedServer,
    closed_port,
    wait_until_scraped,
)

PASSWORD, TOKEN = "hunter2-pa55word", "eyJ-bearer-t0ken"


def context(metric: dict[str, Any], *, namespace: str = "ns", run: dict[str, Any] | None = None,
            previous: dict[str, Any] | None = None, number: int | None = 1) -> MeasureContext:
    meta = (run or {}).get("metadata") or {"name": "run", "uid": "uid"}
    return MeasureContext(namespace=namespace, run_name=meta["name"], run_uid=meta["uid"],
                          metric=metric, previous=previous, now=datetime.now(UTC),
                          measurement_number=number)


def prometheus_metric(address: str, query: str, **extra: Any) -> dict[str, Any]:
    return {"name": "m", "provider": {"prometheus": {"address": address, "query": query,
                                                     **extra}}}


# --- Prometheus ----------------------------------------------------------------------------

@pytest.fixture
def exporter(cluster: TestCluster) -> Iterator[Exporter]:
    with Exporter(cluster.state.prometheus_targets) as running:
        yield running


def test_a_success_rate_query_returns_the_exported_ratio(cluster: TestCluster,
                                                         exporter: Exporter) -> None:
    job = exporter.job
    exporter.set("http_requests_total", 95, labels={"code": "200"})
    exporter.set("http_requests_total", 5, labels={"code": "500"})
    query = (f'sum(http_requests_total{{job="{job}",code="200"}}) '
             f'/ sum(http_requests_total{{job="{job}"}})')
    wait_until_scraped(cluster.prometheus_url, f'count(http_requests_total{{job="{job}"}}) == 2')
    provider = PrometheusProvider()

    outcome = provider.measure(context(prometheus_metric(cluster.prometheus_url, query)))
    assert outcome.error is None and isinstance(outcome.value, list)
    assert outcome.value == pytest.approx([0.95])

    exporter.set("http_requests_total", 45, labels={"code": "500"})  # the canary gets worse
    wait_until_scraped(cluster.prometheus_url, f"({query}) < 0.9")
    again = provider.measure(context(prometheus_metric(cluster.prometheus_url, query)))
    assert again.value == pytest.approx([95 / 140])


def test_vectors_matrices_scalars_and_nan(cluster: TestCluster, exporter: Exporter) -> None:
    job = exporter.job
    exporter.set("queue_depth", 3, labels={"queue": "a"})
    exporter.set("queue_depth", 7, labels={"queue": "b"})
    wait_until_scraped(cluster.prometheus_url, f'count(queue_depth{{job="{job}"}}) == 2')
    provider = PrometheusProvider()

    def value(query: str) -> object:
        outcome = provider.measure(context(prometheus_metric(cluster.prometheus_url, query)))
        assert outcome.error is None, outcome.error
        return outcome.value

    assert value(f'sort(queue_depth{{job="{job}"}})') == [3.0, 7.0]
    assert value(f'sort_desc(queue_depth{{job="{job}"}})') == [7.0, 3.0]
    assert value(f'queue_depth{{job="{job}"}}[30s]') in ([3.0, 7.0], [7.0, 3.0])
    assert value(f'scalar(sum(queue_depth{{job="{job}"}}))') == 10.0
    nan = value("0 / 0")
    assert isinstance(nan, float) and math.isnan(nan)
    assert value(f'sum(queue_depth{{job="{job}"}}) / 0') == [math.inf]


def test_a_query_that_matches_nothing_returns_an_empty_list(cluster: TestCluster) -> None:
    query = f'http_requests_total{{job="nobody-{uuid.uuid4().hex[:8]}"}}'
    outcome = PrometheusProvider().measure(
        context(prometheus_metric(cluster.prometheus_url, query)))
    assert outcome == Outcome(value=[])


def test_an_unreachable_prometheus_is_an_error_at_once() -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    outcome = PrometheusProvider().measure(context(prometheus_metric(address, "up")))
    assert time.monotonic() - started < 2
    assert outcome.error == f"cannot query prometheus at {address}: connection refused"


def test_bad_promql_is_an_error_naming_the_problem(cluster: TestCluster) -> None:
    outcome = PrometheusProvider().measure(
        context(prometheus_metric(cluster.prometheus_url, "sum(rate(http_requests_total[1m]")))
    assert outcome.value is None and outcome.error is not None
    assert "refused the query (HTTP 400, bad_data)" in outcome.error
    assert "parse error" in outcome.error


def test_a_string_result_is_an_error(cluster: TestCluster) -> None:
    outcome = PrometheusProvider().measure(
        context(prometheus_metric(cluster.prometheus_url, '"canary"')))
    assert outcome.error is not None and "returned the string 'canary'" in outcome.error


def test_credentials_work_and_never_appear_in_errors(cluster: TestCluster) -> None:
    basic = {"basicAuth": {"username": "admin", "password": PASSWORD}}
    bearer = {"bearer": {"token": TOKEN}}
    encoded = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    provider = PrometheusProvider()
    # The dev Prometheus does not check credentials: a query with them works as without.
    ok = provider.measure(context(prometheus_metric(cluster.prometheus_url, "vector(1)",
                                                    authentication=basic)))
    assert ok == Outcome(value=[1.0])
    for address in (cluster.prometheus_url, f"http://127.0.0.1:{closed_port()}"):
        for auth in (basic, bearer):
            outcome = provider.measure(context(prometheus_metric(
                address, "sum(", authentication=auth,
                headers=[{"key": "Authorization", "value": f"Bearer {TOKEN}"}])))
            assert outcome.error is not None
            for secret in (PASSWORD, TOKEN, encoded):
                assert secret not in outcome.error
                assert secret not in str(outcome.metadata)


# --- web -----------------------------------------------------------------------------------

def test_a_web_metric_picks_its_value_with_a_json_path() -> None:
    with ScriptedServer() as server:
        url = server.reply("/api/v1/measurement", Reply(body={
            "data": {"ok": True, "successPercent": 0.95, "checks": [{"latencyMs": 12}]}}))
        provider = WebProvider()

        def value(json_path: str) -> object:
            metric = {"name": "w", "provider": {"web": {"url": url, "jsonPath": json_path}}}
            outcome = provider.measure(context(metric))
            assert outcome.error is None, outcome.error
            return outcome.value

        assert value("{$.data.ok}") is True
        assert value("{$.data}") == {"ok": True, "successPercent": 0.95,
                                     "checks": [{"latencyMs": 12}]}
        assert value("{$.data.checks[0].latencyMs}") == 12


def test_a_web_metric_answered_500_is_an_error_naming_the_status() -> None:
    with ScriptedServer() as server:
        url = server.reply("/health", Reply(500, {"error": "database down"}))
        outcome = WebProvider().measure(context({"name": "w", "provider": {"web": {"url": url}}}))
    assert outcome.value is None
    assert outcome.error == f'GET {url} answered HTTP 500 (Internal Server Error): ' \
                            '{"error": "database down"}'


# --- Jobs ----------------------------------------------------------------------------------

@pytest.fixture
def client(cluster: TestCluster) -> Iterator[KubeClient]:
    kube = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield kube
    kube.close()


def job_metric(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "provider": {"job": {
        "metadata": {"labels": {"suite": "providers"}},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"annotations": annotations or {}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "check", "image": "busybox"}]}}}}}}


@pytest.fixture
def analysis_run(client: KubeClient, namespace: str) -> dict[str, Any]:
    """A real AnalysisRun to own the Jobs (a Job owned by nothing is garbage-collected)."""
    return client.create(ANALYSIS_RUN, namespace, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "canary-6f7d8-2-1"},
        "spec": {"metrics": [job_metric("smoke")]},
    })


def measure_until_done(provider: JobProvider, metric: dict[str, Any], run: dict[str, Any],
                       namespace: str, timeout: float = 60) -> tuple[Outcome, Outcome]:
    """(the first outcome, the final one), polling as the state machine would."""
    first = provider.measure(context(metric, namespace=namespace, run=run))
    assert first.pending and first.error is None, first
    previous = {"phase": "Running", "startedAt": datetime.now(UTC).isoformat(),
                "metadata": first.metadata}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = provider.measure(context(metric, namespace=namespace, run=run,
                                           previous=previous))
        if not outcome.pending:
            return first, outcome
        assert outcome.metadata == first.metadata
        time.sleep(0.5)
    raise AssertionError(f"the Job {first.metadata} did not finish in {timeout}s")


def test_a_job_that_completes_is_true(client: KubeClient, namespace: str,
                                      analysis_run: dict[str, Any]) -> None:
    provider = JobProvider(client)
    first, final = measure_until_done(provider, job_metric("smoke"), analysis_run, namespace)
    assert final == Outcome(value=True, metadata=first.metadata)
    job = client.get(JOB, namespace, first.metadata["job-name"])
    meta = job["metadata"]
    assert meta["name"] == f"canary-6f7d8-2-1-{analysis_run['metadata']['uid'][:5]}.smoke.1"
    assert meta["labels"]["analysisrun.argoproj.io/name"] == "canary-6f7d8-2-1"
    assert meta["labels"]["suite"] == "providers"
    [owner] = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "AnalysisRun", analysis_run["metadata"]["uid"], True)


def test_a_job_whose_pod_fails_is_false(client: KubeClient, namespace: str,
                                        analysis_run: dict[str, Any]) -> None:
    metric = job_metric("smoke", {"rollouts.dev/exit-code": "1"})
    first, final = measure_until_done(JobProvider(client), metric, analysis_run, namespace)
    assert final.value is False and final.error is None
    assert final.metadata["job-name"] == first.metadata["job-name"]
    assert "BackoffLimitExceeded" in final.metadata["job-failure"]


def test_terminate_deletes_the_running_job(client: KubeClient, namespace: str,
                                           analysis_run: dict[str, Any]) -> None:
    provider = JobProvider(client)
    metric = job_metric("slow", {"rollouts.dev/run-milliseconds": "600000"})
    started = provider.measure(context(metric, namespace=namespace, run=analysis_run))
    name = started.metadata["job-name"]
    running = {"phase": "Running", "metadata": started.metadata}
    assert provider.measure(context(metric, namespace=namespace, run=analysis_run,
                                    previous=running)).pending

    provider.terminate(context(metric, namespace=namespace, run=analysis_run, previous=running))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            client.get(JOB, namespace, name)
        except NotFound:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"Job {name} still exists after terminate")
    after = provider.measure(context(metric, namespace=namespace, run=analysis_run,
                                     previous=running))
    assert after.error is not None and "no longer exists" in after.error


def test_a_create_repeated_after_a_crash_adopts_the_job(client: KubeClient, namespace: str,
                                                        analysis_run: dict[str, Any]) -> None:
    provider = JobProvider(client)
    metric = job_metric("smoke")
    first = provider.measure(context(metric, namespace=namespace, run=analysis_run, number=7))
    again = provider.measure(context(metric, namespace=namespace, run=analysis_run, number=7))
    assert again.pending and again.metadata == first.metadata
    jobs = client.list(JOB, namespace, label_selector="suite=providers").items
    assert [j["metadata"]["name"] for j in jobs] == [first.metadata["job-name"]]


def test_an_invalid_job_spec_is_an_error_measurement(client: KubeClient, namespace: str,
                                                     analysis_run: dict[str, Any]) -> None:
    metric = job_metric("smoke")
    metric["provider"]["job"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    outcome = JobProvider(client).measure(context(metric, namespace=namespace, run=analysis_run))
    assert outcome.error is not None and "restartPolicy" in outcome.error
