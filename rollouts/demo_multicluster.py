"""`make demo-multicluster`: an ApplicationSet deploying one app from Git to two clusters.

Brings up the default dev cluster (the control plane: our CRDs, the controller, the
Applications) and a second, named one (`rollouts dev up --name second`, a destination);
installs the CRDs on both; registers the second with `rollouts cluster add` (a cluster
Secret in the control namespace, Argo CD's format) and shows `rollouts cluster list`.
The app (`manifests/demo-multicluster/`: a ConfigMap and a Deployment) goes into a local
Git repository served by `git daemon` (`demo_git.DemoRepo`). `rollouts controller
--controllers reconciler,applicationsets` runs against the first cluster, and an
ApplicationSet with a `clusters` generator and no selector stamps one Application per
cluster: `demo-in-cluster` (the local cluster, which a generator without a selector
includes, as in Argo CD) and `demo-second`. Once both are Synced and Healthy, the objects
are shown on each cluster; then a commit changes the image and both clusters follow.

Every command is echoed as a user would type it, with `KUBECONFIG` holding both clusters'
kubeconfigs (the controller, git daemon and clusters are this process's children or the
dev clusters'). At the end the controller and `git daemon` stop; both clusters keep
running with what was deployed, as after `make demo`. A rerun starts from a fresh
namespace on both. Any failure prints one line and exits 1.

Neighbours: `demo_shell` (headings, `DemoFailed`), `demo_git` (the repository), the
devcluster package; `tests/integration/test_demo_multicluster.py` runs `run` against the
test clusters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from rollouts.demo_git import DemoRepo
from rollouts.demo_shell import MANIFESTS, DemoFailed, heading
from rollouts.devcluster import Cluster, DevClusterError, up

__all__ = ["APPS", "NAMESPACE", "Demo", "application_set", "install_crds", "main", "run",
           "show_nodes", "start_clusters"]

NAMESPACE = "rollouts-multicluster"
"""The control namespace (ApplicationSet, Applications, cluster Secret) and, on both
clusters, where the app goes."""
SECOND = "second"
APPS = ("demo-in-cluster", f"demo-{SECOND}")
"""The Applications the ApplicationSet stamps: one per cluster, named after it."""
SOURCE = MANIFESTS / "demo-multicluster"
CRDS = ["applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io"]
FINALIZED = ("applications.argoproj.io", "applicationsets.argoproj.io")


def application_set(repo_url: str, namespace: str) -> dict[str, Any]:
    """One Application per registered cluster (`clusters: {}`: every one, the local too)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "demo", "namespace": namespace},
        "spec": {
            "generators": [{"clusters": {}}],
            "template": {
                "metadata": {"name": "demo-{{name}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": repo_url, "targetRevision": "main", "path": "."},
                    "destination": {"server": "{{server}}", "namespace": namespace},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                                   "syncOptions": ["CreateNamespace=true"]},
                },
            },
        },
    }


class Demo:
    """The two clusters as the demo's commands see them: one KUBECONFIG with both."""

    def __init__(self, first: Cluster, second: Cluster, namespace: str = NAMESPACE) -> None:
        self.first, self.second, self.namespace = first, second, namespace
        self.kubeconfig = os.pathsep.join([str(first.kubeconfig), str(second.kubeconfig)])
        self.env = {**os.environ, "KUBECONFIG": self.kubeconfig, "PYTHONUNBUFFERED": "1"}

    def kubectl(self, cluster: Cluster, *args: str, show: bool = True,
                input_text: str | None = None) -> str:
        """`kubectl --context <cluster> ARGS`; a failure raises with its last line."""
        argv = ["--context", cluster.context, *args]
        if show:
            click.secho("$ kubectl " + " ".join(argv), fg="cyan")
        result = subprocess.run([str(cluster.kubectl), *argv], input=input_text,
                                capture_output=True, text=True, check=False, env=self.env,
                                timeout=120)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DemoFailed(f"kubectl {' '.join(argv[2:4])} on {cluster.context} failed: "
                             f"{last}")
        if show and result.stdout.strip():
            click.echo(result.stdout.rstrip())
        return result.stdout

    def rollouts(self, *args: str) -> str:
        """`rollouts ARGS -n <namespace>` against the current context (the first cluster)."""
        click.secho("$ rollouts " + " ".join((*args, "-n", self.namespace)), fg="cyan")
        result = subprocess.run([sys.executable, "-m", "rollouts.cli.main", *args, "-n",
                                 self.namespace], capture_output=True, text=True, check=False,
                                env=self.env, timeout=120)
        click.echo((result.stdout + result.stderr).rstrip())
        if result.returncode != 0:
            raise DemoFailed(f"rollouts {' '.join(args[:2])} exited {result.returncode}")
        return result.stdout

    def app_status(self, name: str) -> dict[str, Any]:
        found = self.kubectl(self.first, "get", "applications", "-n", self.namespace,
                             "--field-selector", f"metadata.name={name}", "-o", "json",
                             show=False)
        items = json.loads(found)["items"]
        return dict(items[0].get("status") or {}) if items else {}

    def image(self, cluster: Cluster) -> str:
        out = self.kubectl(cluster, "get", "deployment", "web", "-n", self.namespace,
                           "--ignore-not-found", "-o", "json", show=False)
        if not out.strip():
            return ""
        return str(json.loads(out)["spec"]["template"]["spec"]["containers"][0]["image"])

    def wait_apps(self, what: str, revision: str, timeout: float) -> None:
        """Until every Application is Synced to `revision` (a sha prefix) and Healthy."""
        def done(status: dict[str, Any]) -> bool:
            sync = status.get("sync") or {}
            return (sync.get("status") == "Synced"
                    and str(sync.get("revision", "")).startswith(revision)
                    and (status.get("health") or {}).get("status") == "Healthy")

        click.echo(f"   waiting for {what} ...")
        started = time.monotonic()
        while True:
            statuses = {name: self.app_status(name) for name in APPS}
            if all(done(s) for s in statuses.values()):
                click.echo(f"   {what}: after {time.monotonic() - started:.1f}s")
                return
            if time.monotonic() - started > timeout:
                raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}; "
                                 + "; ".join(f"{n}: {_summary(s)}" for n, s in statuses.items()))
            time.sleep(0.5)

    def fresh_namespace(self) -> None:
        """Drop what an earlier run left (its Applications hold finalizers that only a
        running controller removes), then create the control namespace."""
        for kind in FINALIZED:
            names = self.kubectl(self.first, "get", kind, "-n", self.namespace, "-o", "name",
                                 "--ignore-not-found", show=False).split()
            for name in names:
                self.kubectl(self.first, "patch", name, "-n", self.namespace, "--type=merge",
                             "-p", '{"metadata":{"finalizers":null}}', show=False)
        for cluster in (self.first, self.second):
            self.kubectl(cluster, "delete", "namespace", self.namespace, "--ignore-not-found",
                         "--wait=true")
        self.kubectl(self.first, "create", "namespace", self.namespace)


def _summary(status: dict[str, Any]) -> str:
    if not status:
        return "not created yet"
    sync, health = status.get("sync") or {}, status.get("health") or {}
    conditions = "; ".join(str(c.get("message", "")) for c in status.get("conditions") or [])
    return (f"sync={sync.get('status')} revision={str(sync.get('revision', ''))[:7]} "
            f"health={health.get('status')}" + (f" ({conditions})" if conditions else ""))


def start_clusters(say: Callable[[str], None]) -> tuple[Cluster, Cluster]:
    heading("1. two local control planes: the default one (CRDs, controller, Applications) "
            f"and '{SECOND}' (a destination)")
    click.secho("$ rollouts dev up", fg="cyan")
    first = up(say)
    click.secho(f"$ rollouts dev up --name {SECOND}", fg="cyan")
    second = up(say, name=SECOND)
    return first, second


def show_nodes(demo: Demo) -> None:
    """The commands from here on see both clusters, one context each."""
    click.secho(f"$ export KUBECONFIG={demo.kubeconfig}", fg="cyan")
    for cluster in (demo.first, demo.second):
        demo.kubectl(cluster, "get", "nodes")


def install_crds(demo: Demo) -> None:
    heading("2. the CRDs on both clusters, and a fresh namespace")
    for cluster in (demo.first, demo.second):
        demo.kubectl(cluster, "apply", "--server-side", "-k", str(MANIFESTS))
    demo.first.wait_for_crds(CRDS)
    demo.fresh_namespace()


def run(demo: Demo, workdir: Path, *, timeout: float = 120) -> None:
    """Steps 3 to 8 on two running clusters with our CRDs on the first and the control
    namespace there: register, Git, controller and ApplicationSet, a commit, stop."""
    ns = demo.namespace
    heading(f"3. register '{SECOND}' as a destination (a cluster Secret in {ns})")
    demo.rollouts("cluster", "add", demo.second.context, "--name", SECOND, "--yes")
    demo.rollouts("cluster", "list")

    heading("4. the app lives in Git (a ConfigMap and a Deployment), served by git daemon")
    workdir.mkdir(parents=True, exist_ok=True)
    repo = DemoRepo(workdir / "multicluster-repo", SOURCE)
    try:
        repo.__enter__()
    except RuntimeError as problem:  # git daemon did not start
        raise DemoFailed(str(problem)) from None
    try:
        click.echo(f"   repository {repo.url} (branch main): "
                   + ", ".join(sorted(p.name for p in repo.directory.glob("*.yaml"))))
        click.echo("   " + repo.log().replace("\n", "\n   "))

        heading("5. the controller (reconciler + applicationsets) on the first cluster, "
                "and the ApplicationSet")
        log = workdir / "controller.log"
        argv = ["controller", "--context", demo.first.context, "-n", ns,
                "--controllers", "reconciler,applicationsets", "--no-leader-elect",
                "--port", "0", "--app-resync", "2", "--repo-cache", str(workdir / "git-cache")]
        click.secho("$ rollouts " + " ".join(argv) + " &", fg="cyan")
        with log.open("ab") as out:
            controller = subprocess.Popen([sys.executable, "-m", "rollouts.cli.main", *argv],
                                          stdout=out, stderr=subprocess.STDOUT, env=demo.env)
        click.echo(f"   pid {controller.pid}, log {log}")
        try:
            _deploy(demo, repo, timeout)
        finally:
            heading("8. stop the controller and git daemon (the clusters stay up)")
            controller.terminate()
            try:
                controller.wait(15)
            except subprocess.TimeoutExpired:
                controller.kill()
                controller.wait(5)
            click.echo(f"   controller stopped (exit {controller.returncode})")
    finally:
        repo.__exit__(None, None, None)
        click.echo("   git daemon stopped")


def _deploy(demo: Demo, repo: DemoRepo, timeout: float) -> None:
    manifest = yaml.safe_dump(application_set(repo.url, demo.namespace), sort_keys=False)
    click.secho("$ kubectl apply -f applicationset.yaml", fg="cyan")
    click.echo("   " + manifest.rstrip().replace("\n", "\n   "))
    demo.kubectl(demo.first, "apply", "-f", "-", show=False, input_text=manifest)

    heading("6. one Application per cluster, each Synced and Healthy")
    first_sha = repo.repo.head.commit.hexsha[:7]
    demo.wait_apps(f"{', '.join(APPS)} to be Synced at {first_sha} and Healthy", first_sha,
                   timeout)
    demo.kubectl(demo.first, "get", "applicationset", "demo", "-n", demo.namespace)
    demo.rollouts("app", "list")
    demo.rollouts("app", "get", APPS[1])
    for cluster in (demo.first, demo.second):
        demo.kubectl(cluster, "get", "deployment/web", "configmap/web-config", "-n",
                     demo.namespace, "-o", "wide")

    heading("7. a commit changes the image: both clusters follow")
    image = "argoproj/rollouts-demo:green"
    sha = repo.commit_image(image, "deployment.yaml")
    click.secho(f"$ git commit -am 'demo: deploy {image}'   # {sha}", fg="cyan")
    demo.wait_apps(f"both Applications to sync {sha}", sha, timeout)
    for cluster in (demo.first, demo.second):
        demo.kubectl(cluster, "get", "deployment", "web", "-n", demo.namespace, "-o", "wide")
        found = demo.image(cluster)
        if found != image:
            raise DemoFailed(f"the Deployment on {cluster.context} runs {found}, not {image}")
    demo.rollouts("app", "list")


def main() -> None:
    try:
        first, second = start_clusters(lambda line: click.echo(f"   {line}"))
        demo = Demo(first, second)
        show_nodes(demo)
        install_crds(demo)
        run(demo, first.directory / "demo-multicluster")
    except (DevClusterError, DemoFailed) as problem:
        click.secho(f"demo failed: {problem}", fg="red", err=True)
        sys.exit(1)
    heading(f"done: one ApplicationSet, an Application per cluster ({', '.join(APPS)}); "
            "a commit reached both clusters")
    click.echo("both clusters keep running (the demo's controller has stopped); explore with:")
    click.echo('  eval "$(.venv/bin/rollouts dev env)"   # our kubectl on PATH')
    click.echo(f"  export KUBECONFIG={demo.kubeconfig}")
    click.echo(f"  .venv/bin/rollouts app list -n {NAMESPACE}")
    click.echo(f"  kubectl --context {second.context} get deployments -n {NAMESPACE}")
    click.echo(f"stop them with: make dev-down; .venv/bin/rollouts dev down --name {SECOND}")


if __name__ == "__main__":
    main()
