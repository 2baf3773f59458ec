"""Shared fixtures: the real local control plane, one per test session.

`cluster` brings up (or reuses) the dev cluster in its own state directory, installs
our CRDs, and is torn down at the end unless ROLLOUTS_TEST_KEEP_CLUSTER=1 (handy when
iterating: the next session then reuses the running cluster). `namespace` gives each
test a fresh namespace and deletes it afterwards. `second_cluster` is another dev cluster
(`up(name="second")`: its own directory, ports and CA), started only for the sessions
whose tests ask for it (multi-cluster destinations) and torn down like `cluster`.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.versions import cache_dir

REPO = Path(__file__).resolve().parents[1]
COMPAT = REPO.parent / "shared" / "compat"


@dataclass
class TestCluster:
    """The running dev cluster as tests see it."""

    __test__ = False  # not a test class, despite its name

    state: Cluster

    @property
    def kubeconfig(self) -> Path:
        return self.state.kubeconfig

    @property
    def kubectl(self) -> Path:
        return self.state.kubectl

    @property
    def prometheus_url(self) -> str:
        return self.state.prometheus_url

    def kubectl_run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, check=False, timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result


def _say(line: str) -> None:
    print(f"[dev cluster] {line}", flush=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[TestCluster]:
    directory = _test_cluster_dir()
    state = up(_say, directory=directory)
    test_cluster = TestCluster(state)
    test_cluster.kubectl_run("apply", "--server-side", "-f", str(REPO / "manifests" / "crds"))
    state.wait_for_crds([
        "rollouts.argoproj.io", "analysisruns.argoproj.io", "analysistemplates.argoproj.io",
        "clusteranalysistemplates.argoproj.io", "applications.argoproj.io",
        "experiments.argoproj.io", "appprojects.argoproj.io",
    ])
    yield test_cluster
    if os.environ.get("ROLLOUTS_TEST_KEEP_CLUSTER") != "1":
        down(_say, directory=directory)


def _test_cluster_dir() -> Path:
    return Path(os.environ.get("ROLLOUTS_TEST_CLUSTER_DIR", cache_dir() / "test-cluster"))


@pytest.fixture(scope="session")
def second_cluster() -> Iterator[TestCluster]:
    """A second dev cluster beside `cluster`, for destinations that are not the local one.
    No CRDs: a destination cluster needs none of ours."""
    base = _test_cluster_dir()
    directory = base.with_name(f"{base.name}-second")
    state = up(_say, directory=directory, name="second")
    yield TestCluster(state)
    if os.environ.get("ROLLOUTS_TEST_KEEP_CLUSTER") != "1":
        down(_say, directory=directory)


@pytest.fixture
def namespace(cluster: TestCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl_run("create", "namespace", name)
    yield name
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/integration needs the cluster: mark it so `-m` selects it.
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


def _fail_a_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under `make test` (ROLLOUTS_NO_SKIPS=1) a skip is a failure: the target builds or
    installs everything its tests need, so a skip there means a missing tool, file or port,
    and a suite that quietly runs less must not pass (review finding 15). Skips while a
    test runs (marks, fixtures, `pytest.skip`) and while a file is collected
    (`importorskip`, module-level `pytest.skip`) alike; xfail stays xfail."""
    if (os.environ.get("ROLLOUTS_NO_SKIPS") == "1" and report.skipped
            and not hasattr(report, "wasxfail")):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"skipped under ROLLOUTS_NO_SKIPS=1 (make test): {reason}. "
                           "make test provides every tool and file its tests use; "
                           "find out why this one is missing")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    _fail_a_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector
                               ) -> Iterator[pytest.CollectReport]:
    report: pytest.CollectReport = yield
    _fail_a_skip(report)
    return report
