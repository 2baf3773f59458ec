"""The analysis commands against the real local control plane and its real Prometheus.

`analysis run` measures a template written to a file: Prometheus scrapes a test exporter
(`tests.integration.exporter`), web metrics ask a `ScriptedServer`. The command runs as a
user would run it (a subprocess; exit status, stdout and stderr), and afterwards the
namespace must hold no AnalysisRun and no Job: the command creates nothing.
`get analysisrun` shows a run created by hand whose status is patched in through the
status subresource, as the controller would write it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TestCluster
from tests.integration.exporter import (
    Exporter,
    Reply,
    ScriptedServer,
    closed_port,
    wait_until_scraped,
)

A = "\u03b1"  # the AnalysisRun icon (Greek alpha)

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-T0KEN-value"


class Cli:
    """`python -m rollouts.cli.main` pointed at the cluster and one namespace."""

    def __init__(self, cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
        self.cluster, self.namespace, self.tmp_path = cluster, namespace, tmp_path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "rollouts.cli.main", *args, "-n", self.namespace,
                f"--kubeconfig={self.cluster.kubeconfig}"]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, check=False,
                              timeout=timeout)

    def try_template(self, *docs: dict[str, Any], args: tuple[str, ...] = ()
                     ) -> subprocess.CompletedProcess[str]:
        path = self.tmp_path / "template.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return self.run("analysis", "run", "-f", str(path), *args)

    def assert_nothing_created(self) -> None:
        listed = self.cluster.kubectl_run("get", "analysisruns,jobs", "-n", self.namespace,
                                          "-o", "json").stdout
        assert json.loads(listed)["items"] == []


@pytest.fixture
def cli(cluster: TestCluster, namespace: str, tmp_path: Path) -> Cli:
    return Cli(cluster, namespace, tmp_path)


@pytest.fixture
def exporter(cluster: TestCluster) -> Iterator[Exporter]:
    with Exporter(cluster.state.prometheus_targets) as running:
        yield running


def template(*metrics: dict[str, Any], args: list[dict[str, Any]] | None = None,
             **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "canary-health"},
            "spec": {"args": args or [], "metrics": list(metrics), **spec}}


def prometheus(name: str, address: str, query: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": {"prometheus": {"address": address, "query": query}},
            **extra}


def block(stdout: str, metric: str) -> str:
    """The lines `analysis run` printed for one metric."""
    return stdout.split(f"{A} {metric}  ")[1].split(f"\n{A} ")[0].split("\nResult:")[0]


@pytest.fixture
def success_rate(cluster: TestCluster, exporter: Exporter) -> str:
    """A query whose answer is [0.97] (97 good requests of 100)."""
    job = exporter.job
    exporter.set("http_requests_total", 97, labels={"code": "200"})
    exporter.set("http_requests_total", 3, labels={"code": "500"})
    wait_until_scraped(cluster.prometheus_url, f'count(http_requests_total{{job="{job}"}}) == 2')
    return (f'sum(http_requests_total{{job="{job}",code="200"}}) '
            f'/ sum(http_requests_total{{job="{job}"}})')


class TestAnalysisRun:
    def test_a_good_value_passes_and_is_printed(self, cli: Cli, cluster: TestCluster,
                                                success_rate: str) -> None:
        result = cli.try_template(
            template(prometheus("success-rate", "{{args.prometheus}}", success_rate,
                                successCondition="result[0] >= {{args.threshold}}",
                                interval="5m", initialDelay="10m", count=10),
                     args=[{"name": "prometheus"}, {"name": "threshold", "value": "0.5"}]),
            args=("--arg", f"prometheus={cluster.prometheus_url}", "--arg", "threshold=0.95"))
        assert result.returncode == 0, (result.stdout, result.stderr)
        shown = block(result.stdout, "success-rate")
        assert "Value:         [0.97]" in shown
        assert "Verdict:       ✔ Successful: successCondition `result[0] >= 0.95` holds" in shown
        assert "threshold=0.95 (--arg)" in result.stdout
        assert result.stdout.splitlines()[-1] == "Result:  ✔ Successful (1 Successful)"
        cli.assert_nothing_created()

    def test_a_failing_condition_exits_1_with_failed(self, cli: Cli, cluster: TestCluster,
                                                     success_rate: str) -> None:
        result = cli.try_template(template(
            prometheus("success-rate", cluster.prometheus_url, success_rate,
                       successCondition="result[0] >= 0.99"),
            prometheus("errors", cluster.prometheus_url, success_rate,
                       failureCondition="result[0] < 0.98")))
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert ("Verdict:       ✖ Failed: successCondition `result[0] >= 0.99` does not hold"
                in block(result.stdout, "success-rate"))
        assert ("Verdict:       ✖ Failed: failureCondition `result[0] < 0.98` holds"
                in block(result.stdout, "errors"))
        assert result.stdout.splitlines()[-1] == "Result:  ✖ Failed (2 Failed)"
        assert result.stderr == ""

    def test_an_unreachable_prometheus_is_an_error(self, cli: Cli) -> None:
        address = f"http://127.0.0.1:{closed_port()}"
        result = cli.try_template(template(prometheus("rate", address, "up",
                                                      successCondition="result[0] == 1")))
        assert result.returncode == 1
        assert (f"Verdict:       ⚠ Error: cannot query prometheus at {address}: "
                "connection refused") in block(result.stdout, "rate")
        assert "Value:" not in block(result.stdout, "rate")

    def test_a_web_metric_with_json_path_and_a_skipped_job(self, cli: Cli) -> None:
        with ScriptedServer() as server:
            url = server.reply("/health", Reply(200, {"data": {"p99": 212, "ok": True}}))
            result = cli.try_template(template(
                {"name": "latency", "successCondition": "result < 300",
                 "provider": {"web": {"url": url, "jsonPath": "{$.data.p99}"}}},
                {"name": "smoke", "provider": {"job": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "t", "image": "busybox"}]}}}}}}))
        assert result.returncode == 0, (result.stdout, result.stderr)
        latency = block(result.stdout, "latency")
        assert f"Asked:         GET {url}" in latency
        assert "Value:         212" in latency
        assert "✔ Successful: successCondition `result < 300` holds" in latency
        assert f"{A} smoke  job\n  skipped: job metrics create Jobs; not run by `analysis run`" \
            in result.stdout
        assert result.stdout.splitlines()[-1] == "Result:  ✔ Successful (1 Successful; 1 skipped)"
        assert [r.path for r in server.received] == ["/health"]
        cli.assert_nothing_created()

    def test_a_secret_argument_is_read_from_the_cluster_and_never_shown(
            self, cli: Cli, cluster: TestCluster) -> None:
        cluster.kubectl_run("create", "secret", "generic", "creds", "-n", cli.namespace,
                            f"--from-literal=token={TOKEN}")
        with ScriptedServer() as server:
            # The server echoes the token back, and the condition fails: the value, the
            # URL and the condition all carry the secret, and none may show it.
            url = server.reply("/check", Reply(200, lambda request: {
                "seen": request.headers.get("Authorization", "")}))
            result = cli.try_template(template(
                {"name": "auth", "successCondition": "result.seen == 'x{{args.token}}'",
                 "provider": {"web": {"url": url + "?t={{args.token}}", "headers": [
                     {"key": "Authorization", "value": "Bearer {{args.token}}"}]}}},
                args=[{"name": "token",
                       "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]))
        assert server.received[0].headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in result.stdout + result.stderr
        assert result.returncode == 1
        assert "Args:          token=*****" in result.stdout
        shown = block(result.stdout, "auth")
        assert f"Asked:         GET {url}?t=*****" in shown
        assert 'Value:         {"seen":"Bearer *****"}' in shown
        assert "successCondition `result.seen == 'x*****'` does not hold" in shown

    def test_a_missing_secret_is_unusable_input(self, cli: Cli) -> None:
        result = cli.try_template(template(
            prometheus("rate", "http://127.0.0.1:1", "up"),
            args=[{"name": "token",
                   "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]))
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr == (
            f'error: argument "token": Secret "absent" does not exist in namespace '
            f"{cli.namespace}; create it (or pass --arg token=VALUE)\n")

    def test_full_plays_the_schedule_locally(self, cli: Cli, cluster: TestCluster,
                                             success_rate: str) -> None:
        started = time.monotonic()
        result = cli.try_template(template(
            prometheus("success-rate", cluster.prometheus_url, success_rate,
                       successCondition="result[0] >= 0.95", interval="1s", count=3)),
            args=("--full",))
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert time.monotonic() - started >= 2, "three measurements one second apart"
        lines = [line for line in result.stdout.splitlines() if line.startswith("[+")]
        assert [line.split("]", 1)[1] for line in lines] == [
            f" success-rate #{n}  ✔ Successful  value [0.97]" for n in (1, 2, 3)]
        assert "Status:        ✔ Successful" in result.stdout
        assert "count 3  successful 3  failed 0" in result.stdout
        cli.assert_nothing_created()


# --- get analysisrun -------------------------------------------------------------------

RUN = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
    "metadata": {"name": "demo-run"},
    "spec": {
        "args": [{"name": "service", "value": "checkout"},
                 {"name": "token", "valueFrom": {"secretKeyRef": {"name": "c", "key": "t"}}}],
        "dryRun": [{"metricName": "latency"}],
        "metrics": [
            {"name": "success-rate", "interval": "30s", "count": 3,
             "successCondition": "result[0] >= 0.95",
             "provider": {"prometheus": {"address": "http://p:9090", "query": "up"}}},
            {"name": "latency", "successCondition": "result < 300",
             "provider": {"web": {"url": "http://checks/latency"}}}]},
}
STATUS = {
    "phase": "Running", "startedAt": "2026-01-01T12:00:00Z",
    "metricResults": [{
        "name": "success-rate", "phase": "Running", "count": 2, "successful": 1, "failed": 1,
        "inconclusive": 0, "error": 1, "consecutiveError": 0,
        "measurements": [
            {"phase": "Error", "startedAt": "2026-01-01T12:00:00Z",
             "finishedAt": "2026-01-01T12:00:01Z",
             "message": "cannot query prometheus at http://p:9090: unknown host name"},
            {"phase": "Successful", "value": "[0.97]", "startedAt": "2026-01-01T12:00:11Z",
             "finishedAt": "2026-01-01T12:00:11Z"},
            {"phase": "Failed", "value": "[0.5]", "startedAt": "2026-01-01T12:00:41Z",
             "finishedAt": "2026-01-01T12:00:41Z"}]}],
}


def patch_status(cli: Cli, status: dict[str, Any]) -> None:
    cli.cluster.kubectl_run("patch", "analysisrun", "demo-run", "-n", cli.namespace,
                            "--subresource=status", "--type=merge",
                            "-p", json.dumps({"status": status}))


@pytest.fixture
def demo_run(cli: Cli) -> None:
    cli.cluster.kubectl_run("create", "-n", cli.namespace, "-f", "-", input=json.dumps(RUN))
    patch_status(cli, STATUS)


class TestGetAnalysisRun:
    def test_renders_the_header_and_a_block_per_metric(self, cli: Cli, demo_run: None) -> None:
        result = cli.run("get", "analysisrun", "demo-run")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[:3] == ["Name:          demo-run", f"Namespace:     {cli.namespace}",
                             "Status:        ◌ Running"]
        assert "Args:          service=checkout  token=*****" in lines
        rate = result.stdout.split(f"{A} success-rate")[1].split(f"{A} latency")[0]
        assert "Provider:      prometheus" in rate
        assert ("Counters:      count 2  successful 1  failed 1  inconclusive 0  error 1  "
                "consecutiveError 0") in rate
        assert "Success:       result[0] >= 0.95" in rate
        rows = [line.split() for line in rate.splitlines() if line.startswith("    ")]
        assert [row[1] for row in rows[1:]] == ["Error", "Successful", "Failed"]
        assert " ".join(rows[1]).endswith("unknown host name")
        latency = result.stdout.split(f"{A} latency")[1]
        assert latency.startswith("  (dry run: never decides the run)")
        assert "Phase:         ◷ Pending" in latency

    def test_the_alias_and_json_output(self, cli: Cli, demo_run: None) -> None:
        result = cli.run("get", "ar", "demo-run", "-o", "json")
        assert result.returncode == 0, result.stderr
        shown = json.loads(result.stdout)
        assert shown["kind"] == "AnalysisRun" and shown["status"]["phase"] == "Running"

    def test_an_unknown_run_is_one_line_and_exit_1(self, cli: Cli) -> None:
        result = cli.run("get", "analysisrun", "nope")
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (f"error: analysis run 'nope' not found in namespace "
                                 f"'{cli.namespace}'; check the name and the namespace (-n)\n")

    def test_watch_re_renders_until_the_run_completes(self, cli: Cli, demo_run: None) -> None:
        watching = subprocess.Popen(cli.argv("get", "analysisrun", "demo-run", "--watch"),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(3)
            assert watching.poll() is None, "a Running run keeps being watched"
            done = json.loads(json.dumps(STATUS))
            done.update(phase="Successful", completedAt="2026-01-01T12:01:30Z")
            done["metricResults"][0]["phase"] = "Successful"
            patch_status(cli, done)
            out, err = watching.communicate(timeout=20)
        finally:
            if watching.poll() is None:
                watching.kill()
                watching.wait(5)
        assert watching.returncode == 0, err
        assert out.count("Name:          demo-run") >= 2
        last = out.split("Name:          demo-run")[-1]
        assert "Status:        ✔ Successful" in last
        assert "Completed:     2026-01-01T12:01:30Z" in last

