"""Applications whose source is a chart in a Helm repository or an OCI registry.

Real parts only: charts made with our built `helm package`, a repository index made with
`helm repo index` and served over HTTP (with basic auth, the credentials in an Argo CD
repository Secret) by a thread of this test, the same chart pushed with `helm push` to a
real registry (Debian's `docker-registry`, started here with its own config on a free
127.0.0.1 port and a temporary storage directory), the controller as a process, and the
real control plane. Assertions are on the API server's objects.
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import tools
from tests.conftest import TestCluster
from tests.integration.gitserver import free_port
from tests.integration.reconciler_support import (
    app_status,
    apply,
    running_reconciler,
    wait_app,
)
from tests.integration.support import get, wait_for

USER, PASSWORD = "deploy", "chart-repo-s3cret"


def helm(*args: str, cwd: Path, home: Path) -> str:
    """Our built helm, with a scratch configuration (no host repositories or logins)."""
    env = tools.environment(home)
    result = subprocess.run([str(tools.helm()), *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def package(tmp: Path, version: str, destination: Path) -> Path:
    """`helm package` of a small chart at `version`: a ConfigMap naming its version."""
    chart = tmp / "src" / "web"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: web\nversion: {version}\n")
    (chart / "values.yaml").write_text("greeting: hello\ncolor: blue\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "data:\n  version: {{ .Chart.Version | quote }}\n"
        "  greeting: {{ .Values.greeting | quote }}\n  color: {{ .Values.color | quote }}\n")
    destination.mkdir(parents=True, exist_ok=True)
    helm("package", str(chart), "--destination", str(destination), cwd=tmp, home=tmp / "helm")
    return destination / f"web-{version}.tgz"


class ChartRepository:
    """A directory served over HTTP with basic auth, by a thread of this process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/charts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, tmp: Path, *versions: str) -> None:
        for version in versions:
            package(tmp, version, self.root / "charts")
        helm("repo", "index", str(self.root / "charts"), cwd=tmp, home=tmp / "helm")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[ChartRepository]:
    repository = ChartRepository(tmp_path / "served")
    yield repository
    repository.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry on a free 127.0.0.1 port; yields `127.0.0.1:<port>`."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed: `make deps` (part of `make test`) "
                    "installs Debian's docker-registry package")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'registry-storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    log = (tmp_path / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, env={"PATH": os.defpath})

    def answers() -> bool:
        assert process.poll() is None, (tmp_path / "registry.log").read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        wait_for(answers, 30, "the docker-registry to answer")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def chart_app(name: str, repo_url: str, revision: str, namespace: str,
              **helm_options: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"repoURL": repo_url, "chart": "web", "targetRevision": revision}
    if helm_options:
        source["helm"] = helm_options
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name},
        "spec": {"project": "default", "source": source,
                 "destination": {"server": "https://kubernetes.default.svc",
                                 "namespace": namespace},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
    }


def repository_secret(name: str, url: str, **fields: str) -> dict[str, Any]:
    data = {"type": "helm", "name": name, "url": url, **fields}
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name,
                         "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": data}


def configmap(cluster: TestCluster, namespace: str, name: str) -> dict[str, str]:
    return dict(get(cluster, namespace, "configmap", name)["data"])


def test_a_chart_from_an_http_repository_at_a_constrained_version(
        cluster: TestCluster, namespace: str, chart_repo: ChartRepository,
        tmp_path: Path) -> None:
    chart_repo.publish(tmp_path, "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0")
    apply(cluster, namespace, repository_secret("charts", chart_repo.url, username=USER,
                                                password=PASSWORD))
    apply(cluster, namespace, chart_app(
        "web", chart_repo.url, "1.x", namespace, releaseName="shop",
        valuesObject={"color": "green"},
        parameters=[{"name": "greeting", "value": "hi, there"}]))
    with running_reconciler(cluster, namespace, tmp_path) as controller:
        status = wait_app(cluster, namespace, "web", revision="1.1.0")
        assert status["sourceType"] == "Helm"
        assert configmap(cluster, namespace, "shop-web") == {
            "version": "1.1.0", "greeting": "hi, there", "color": "green"}
        assert status["history"][0]["revision"] == "1.1.0"
        # A new version inside the range: a refresh asks the repository again at once.
        chart_repo.publish(tmp_path, "1.3.0")
        cluster.kubectl_run("annotate", "-n", namespace, "application", "web",
                            "argocd.argoproj.io/refresh=normal", "--overwrite")
        wait_app(cluster, namespace, "web", revision="1.3.0")
        wait_for(lambda: configmap(cluster, namespace, "shop-web")["version"] == "1.3.0", 30,
                 "the ConfigMap of chart version 1.3.0")
        assert PASSWORD not in controller.log.read_text()
    # `rollouts app diff` renders the chart as the controller does: in sync at 1.x, and the
    # ConfigMap's version differs at 1.0.0.
    in_sync = app_diff(cluster, namespace, "web", tmp_path)
    assert (in_sync.returncode, in_sync.stdout) == (0, ""), in_sync.stderr
    older = app_diff(cluster, namespace, "web", tmp_path, "--revision", "1.0.0")
    assert older.returncode == 1, older.stderr
    assert re.search(r"^-\s+version: \W?1\.3\.0", older.stdout, re.M), older.stdout
    assert re.search(r"^\+\s+version: \W?1\.0\.0", older.stdout, re.M), older.stdout
    assert PASSWORD not in older.stdout + older.stderr


def app_diff(cluster: TestCluster, namespace: str, name: str, tmp: Path, *args: str
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROLLOUTS_CACHE": str(tmp / "cli-cache"),
           "PATH": f"{tools.helm().parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "rollouts.cli.main", "app", "diff", name,
                           *args, "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_repository_without_its_credentials_is_a_comparison_error(
        cluster: TestCluster, namespace: str, chart_repo: ChartRepository,
        tmp_path: Path) -> None:
    chart_repo.publish(tmp_path, "1.0.0")
    apply(cluster, namespace, chart_app("web", chart_repo.url, "1.x", namespace))
    with running_reconciler(cluster, namespace, tmp_path):
        wait_for(lambda: any(
            c["type"] == "ComparisonError" and "answered 401" in c["message"]
            for c in app_status(cluster, namespace, "web").get("conditions") or []),
            60, "a ComparisonError naming the 401")
    assert "web-web" not in cluster.kubectl_run("get", "configmaps", "-n", namespace).stdout


def test_a_chart_from_an_oci_registry_in_both_of_argo_cds_spellings(
        cluster: TestCluster, namespace: str, registry: str, tmp_path: Path) -> None:
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        archive = package(tmp_path, version, tmp_path / "packaged")
        helm("push", str(archive), f"oci://{registry}/charts", "--plain-http", cwd=tmp_path,
             home=tmp_path / "helm")
    apply(cluster, namespace, chart_app("ranged", f"oci://{registry}/charts", "^1.0",
                                        namespace, releaseName="ranged"))
    apply(cluster, namespace, chart_app("pinned", f"{registry}/charts", "1.0.0", namespace,
                                        releaseName="pinned"))
    with running_reconciler(cluster, namespace, tmp_path):
        wait_app(cluster, namespace, "ranged", revision="1.1.0")
        wait_app(cluster, namespace, "pinned", revision="1.0.0")
    assert configmap(cluster, namespace, "ranged-web")["version"] == "1.1.0"
    assert configmap(cluster, namespace, "pinned-web")["version"] == "1.0.0"
