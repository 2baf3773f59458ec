"""The applications dashboard answers, against real parts: the controller process running
the Application controller (`--controllers reconciler`) syncing a compat app from a real
Git repository (`git daemon`), scraped by the dev cluster's Prometheus.

The Git panels read `git_request_*`: checked against the controller, which always
exports them (its `MeasuredGitSource`, `reconciler/app_source.py`), and over the same
`MeasuredGitSource` and `GitMetrics` against a real server, served to Prometheus as its
own target, so the fetch series is checked too.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from reconciler.app_source import MeasuredGitSource
from rollouts.metrics.app_metrics import GitMetrics
from tests.conftest import TestCluster
from tests.integration.exporter import wait_until_scraped
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import application, apply, compat_repo, wait_app
from tests.integration.test_metrics_dashboards import (
    assert_every_query_answers,
    metric_names,
    panel_queries,
    scraped_controller,
    variable_queries,
)

GIT_METRICS = {"git_request_total", "git_request_duration_seconds"}


def _split(queries: list[tuple[str, str]]) -> tuple[list[tuple[str, str]],
                                                    list[tuple[str, str]]]:
    git = [q for q in queries if metric_names(q[1]) & GIT_METRICS]
    return [q for q in queries if q not in git], git


def test_application_panels_answer_while_the_controller_syncs_an_app(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    prometheus = cluster.prometheus_url
    app_queries, git_queries = _split(panel_queries("applications"))
    assert len(app_queries) >= 7 and len(git_queries) >= 3
    with GitDaemon(tmp_path / "git") as daemon:
        repo = compat_repo(daemon, "guestbook")
        apply(cluster, namespace, application("guestbook", daemon.url("apps"), "guestbook",
                                              namespace))
        extra = ("--app-resync", "3", "--repo-cache", str(tmp_path / "git-cache"))
        with scraped_controller(cluster, namespace, tmp_path, controllers="reconciler",
                                extra=extra) as controller:
            wait_app(cluster, namespace, "guestbook", revision=repo.head())
            wait_until_scraped(prometheus, f'app_sync_total{{namespace="{namespace}"}}')
            values = {"namespace": namespace, "application": "guestbook",
                      "job": controller.job}
            exported = controller.scrape()
            missing = sorted({name for _, expr in app_queries for name in metric_names(expr)
                              if f"# TYPE {name} " not in exported
                              and f"# TYPE {name}_total " not in exported})
            assert not missing, f"applications.json reads metrics the controller lacks: {missing}"
            assert_every_query_answers("applications", app_queries, values, prometheus)
            assert_every_query_answers("applications", variable_queries("applications"),
                                       values, prometheus)
            info = wait_until_scraped(prometheus, f'app_info{{namespace="{namespace}"}}')
            assert info[0]["metric"]["sync_status"] == "Synced"
            assert info[0]["metric"]["health_status"] == "Healthy"
            assert info[0]["metric"]["repo"] == daemon.url("apps")
            synced = wait_until_scraped(prometheus,
                                        f'app_sync_total{{namespace="{namespace}"}}')
            assert synced[0]["metric"]["phase"] == "Succeeded"
            # The controller always times its Git requests (MeasuredGitSource): the Git
            # panels must answer from its own series.
            assert "\ngit_request_total{" in controller.scrape(), "no git_request_total"
            job = controller.job
            wait_until_scraped(prometheus, f'git_request_total{{job="{job}"}}')
            assert_every_query_answers("applications", git_queries, values, prometheus)
            cluster.kubectl_run("delete", "application", "guestbook", "-n", namespace)
            assert _gone(controller.scrape, namespace), "deleted app's series remain"


def _gone(scrape: Callable[[], str], namespace: str, timeout: float = 30) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [line for line in scrape().splitlines()
                if not line.startswith("#") and f'namespace="{namespace}"' in line]:
            return True
        time.sleep(0.5)
    return False


@contextmanager
def _served(registry: CollectorRegistry, targets: Path) -> Iterator[str]:
    """`registry` on a free port, registered as a Prometheus target; yields the job."""
    server, thread = start_http_server(0, "127.0.0.1", registry)
    job = f"git-metrics-{uuid.uuid4().hex[:8]}"
    target = targets / f"{job}.json"
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(json.dumps([{"targets": [f"127.0.0.1:{server.server_port}"],
                                    "labels": {"job": job}}]))
    os.replace(staging, target)
    try:
        yield job
    finally:
        target.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_git_panels_answer_over_a_timed_real_git_source(
    cluster: TestCluster, tmp_path: Path
) -> None:
    _, git_queries = _split(panel_queries("applications"))
    metrics = GitMetrics()
    registry = CollectorRegistry()
    registry.register(metrics)
    with GitDaemon(tmp_path / "git") as daemon, \
            _served(registry, Path(cluster.state.prometheus_targets)) as job:
        repo = compat_repo(daemon, "guestbook")
        source = MeasuredGitSource(tmp_path / "cache", observer=lambda: metrics)
        source.fetch(daemon.url("apps"), "HEAD")
        repo.commit({"guestbook/extra.yaml": "# a change\n"}, "change")
        source.fetch(daemon.url("apps"), "HEAD")
        wait_until_scraped(cluster.prometheus_url,
                           f'git_request_total{{job="{job}",request_type="fetch"}}')
        assert source.ls_remote_count == 2 and source.fetch_count >= 1
        assert_every_query_answers("applications", git_queries, {"job": job},
                                   cluster.prometheus_url)
