"""`make demo`: the main job end to end on the local control plane.

Brings up the dev cluster (building it the first time), installs our CRDs, starts the
controller (rollouts, analysis and the Git reconciler), puts `manifests/demo/` (the
demo Rollout and its AnalysisTemplate) in a local Git repository and deploys it with an
Application that syncs automatically. Every change is then a Git commit:

1. a good version (`:green`) walks the canary: setWeight 20 -> pause 10s ->
   setWeight 50 -> analysis (success rate from the real Prometheus) passes ->
   pause {} -> `rollouts promote` -> Healthy;
2. a bad version (`:red`) fails the same analysis and the rollout aborts back to the
   stable version by itself;
3. a blue-green Rollout (`demo-bg`) gets the good version: it comes up behind the
   preview Service, passes its pre-promotion analysis, pauses (`BlueGreenPause`), and
   `rollouts promote` switches the active Service to it.

The demo process plays the app's pods (`demo_app.py`): it serves their success rate to
Prometheus. The rollout tree is printed at each stage; any failure prints one line and
exits 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rollouts.demo_app import DemoApp
from rollouts.demo_git import DemoRepo
from rollouts.devcluster import Cluster, DevClusterError, up
from rollouts.devcluster.process import free_port
from rollouts.kube import KubeClient

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
NAMESPACE = "rollouts-demo"


class DemoFailed(Exception):
    """A stage of the demo did not happen in time."""


def _heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def _kubectl(cluster: Cluster, *args: str, show: bool = True) -> str:
    if show:
        click.secho("$ kubectl " + " ".join(args), fg="cyan")
    result = subprocess.run(
        [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DevClusterError(f"kubectl {' '.join(args[:2])} failed: {last}")
    if show and result.stdout.strip():
        click.echo(result.stdout.rstrip())
    return result.stdout


def _rollouts(cluster: Cluster, *args: str) -> None:
    click.secho("$ rollouts " + " ".join(args), fg="cyan")
    result = subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", *args, "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}"],
        capture_output=True, text=True, check=False,
    )
    click.echo((result.stdout + result.stderr).rstrip())
    if result.returncode != 0:
        raise DemoFailed(f"rollouts {' '.join(args)} exited {result.returncode}")


def _status(cluster: Cluster, name: str = "demo") -> dict[str, Any]:
    out = _kubectl(cluster, "get", "rollout", name, "-n", NAMESPACE, "-o", "json",
                   show=False)
    return dict(json.loads(out).get("status") or {})


def _wait(cluster: Cluster, what: str, done: Callable[[dict[str, Any]], bool],
          timeout: float = 120, name: str = "demo") -> dict[str, Any]:
    click.echo(f"   waiting for {what} ...")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = _status(cluster, name)
        if done(status):
            click.echo(f"   {what}: after {time.monotonic() - started:.1f}s")
            return status
        time.sleep(0.5)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}; "
                     f"last status: phase={_status(cluster, name).get('phase')}, "
                     f"message={_status(cluster, name).get('message')}")


def _at(phase: str, step: int | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("phase") == phase and (step is None
                                                  or s.get("currentStepIndex") == step)


def run() -> None:
    _heading("1. local control plane (etcd, kube-apiserver, controller-manager, scheduler, "
             "kwok, prometheus)")
    cluster = up(lambda line: click.echo(f"   {line}"))
    _kubectl(cluster, "get", "nodes")

    _heading("2. install the CRDs and a fresh demo namespace")
    _kubectl(cluster, "apply", "--server-side", "-k", str(MANIFESTS))
    cluster.wait_for_crds(["rollouts.argoproj.io", "analysisruns.argoproj.io",
                           "analysistemplates.argoproj.io", "applications.argoproj.io",
                           "experiments.argoproj.io"])
    _kubectl(cluster, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    _kubectl(cluster, "create", "namespace", NAMESPACE)

    _heading("3. start the controller (rollouts + analysis + reconciler) and the demo app's "
             "metrics")
    log = cluster.directory / "logs" / "demo-controller.log"
    metrics_port = free_port()
    controller = subprocess.Popen(
        [sys.executable, "-m", "rollouts.cli.main", "controller", "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}", "--no-leader-elect",
         "--port", str(metrics_port),
         "--controllers", "rollouts,analysis,experiments,reconciler", "--app-resync", "2",
         "--prometheus", cluster.prometheus_url],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    click.echo(f"   rollouts controller -n {NAMESPACE} (pid {controller.pid}, log {log})")
    target = cluster.prometheus_targets / "rollouts-demo-controller.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{metrics_port}"],
                                   "labels": {"job": "rollouts-controller"}}]))
    click.echo(f"   metrics: http://127.0.0.1:{metrics_port}/metrics, scraped by Prometheus "
               f"({cluster.prometheus_url})")
    app = DemoApp(KubeClient.from_kubeconfig(str(cluster.kubeconfig)), NAMESPACE,
                  cluster.prometheus_targets)
    click.echo(f"   demo app metrics on 127.0.0.1:{app.port}, scraped by {cluster.prometheus_url}")
    repo = DemoRepo(cluster.directory / "demo-repo", MANIFESTS / "demo")
    try:
        _deploy_from_git(cluster, repo)
        _walk_the_canary(cluster, repo)
        _bad_version_aborts(cluster, repo)
        _blue_green(cluster, repo)
        _show_metrics(cluster, metrics_port)
    finally:
        target.unlink(missing_ok=True)
        app.close()
        controller.terminate()
        controller.wait(15)

    _heading("done: green passed its analysis and was promoted; red failed it and was "
             "rolled back; the blue-green rollout switched after its analysis and a promote")
    click.echo("the cluster keeps running (the demo's controller has stopped); explore with:")
    click.echo('  eval "$(.venv/bin/rollouts dev env)"; kubectl get rollouts -n rollouts-demo')
    click.echo("stop it with: make dev-down")


def _application(repo: DemoRepo) -> str:
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "demo", "namespace": NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "targetRevision": "main", "path": "."},
            "destination": {"server": "https://kubernetes.default.svc",
                            "namespace": NAMESPACE},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    })


def _app_status(cluster: Cluster) -> dict[str, Any]:
    out = _kubectl(cluster, "get", "application", "demo", "-n", NAMESPACE, "-o", "json",
                   show=False)
    return dict(json.loads(out).get("status") or {})


def _deploy_from_git(cluster: Cluster, repo: DemoRepo) -> None:
    _heading("4. the demo lives in Git: an Application syncs it (first version: straight "
             "to stable)")
    click.echo(f"   repository {repo.url} (branch main):")
    click.echo("   " + repo.log().replace("\n", "\n   "))
    click.secho("$ kubectl apply -f application.yaml   # repoURL above, automated sync",
                fg="cyan")
    subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "apply", "-f",
                    "-"], input=_application(repo), text=True, check=True,
                   capture_output=True)
    started = time.monotonic()
    while time.monotonic() - started < 120:
        app = _app_status(cluster)
        if (app.get("sync") or {}).get("status") == "Synced" and (
                app.get("health") or {}).get("status") == "Healthy":
            break
        time.sleep(0.5)
    else:
        raise DemoFailed("the Application did not become Synced and Healthy in 120s: "
                         f"{_app_status(cluster).get('conditions')}")
    click.echo(f"   Application Synced and Healthy after {time.monotonic() - started:.1f}s")
    _wait(cluster, "the Rollout to be Healthy", _at("Healthy"))
    _rollouts(cluster, "app", "get", "demo")
    _kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)


def _walk_the_canary(cluster: Cluster, repo: DemoRepo) -> None:
    _heading("5. a commit changes the image: setWeight 20, then a 10s pause")
    sha = repo.commit_image("argoproj/rollouts-demo:green")
    click.secho(f"$ git commit -am 'demo: deploy argoproj/rollouts-demo:green'   # {sha}",
                fg="cyan")
    _wait(cluster, "step 2 (pause 10s)", _at("Paused", 1))
    _rollouts(cluster, "get", "rollout", "demo")

    _heading("6. the pause expires by itself: setWeight 50, then the analysis")
    _wait(cluster, "step 4 (analysis) to start", _at("Progressing", 3), timeout=60)
    _rollouts(cluster, "get", "rollout", "demo")
    _wait(cluster, "the analysis to pass: step 5 (pause until promoted)", _at("Paused", 4),
          timeout=90)
    _kubectl(cluster, "get", "analysisruns", "-n", NAMESPACE)
    _rollouts(cluster, "get", "rollout", "demo")

    _heading("7. promote")
    _rollouts(cluster, "promote", "demo")
    _wait(cluster, "Healthy on the new version",
          lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == s.get("currentPodHash")
          and s.get("availableReplicas") == 5 and s.get("replicas") == 5)
    _kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)
    _rollouts(cluster, "get", "rollout", "demo")
    _rollouts(cluster, "status", "demo")


def _bad_version_aborts(cluster: Cluster, repo: DemoRepo) -> None:
    _heading("8. a bad version (:red) is committed: its success rate is 42%")
    stable = _status(cluster)["stableRS"]
    sha = repo.commit_image("argoproj/rollouts-demo:red")
    click.secho(f"$ git commit -am 'demo: deploy argoproj/rollouts-demo:red'   # {sha}",
                fg="cyan")
    status = _wait(cluster, "the analysis to fail and the rollout to abort",
                   lambda s: s.get("phase") == "Degraded" and bool(s.get("abort")), timeout=120)
    click.echo(f"   message: {status.get('message')}")
    _wait(cluster, "all replicas back on the stable version",
          lambda s: s.get("stableRS") == stable and s.get("availableReplicas") == 5
          and s.get("updatedReplicas") == 0, timeout=60)
    _kubectl(cluster, "get", "analysisruns", "-n", NAMESPACE)
    _rollouts(cluster, "get", "rollout", "demo")
    click.secho("$ rollouts status demo   # exits 1: what a CI pipeline would see", fg="cyan")
    result = subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", "status", "demo", "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}"], capture_output=True, text=True, check=False)
    click.echo((result.stdout + result.stderr).rstrip() + f"\n   (exit {result.returncode})")
    if result.returncode != 1:
        raise DemoFailed("rollouts status should exit 1 for an aborted rollout")
    _rollouts(cluster, "app", "get", "demo")


def _selector(cluster: Cluster, service: str) -> str:
    out = _kubectl(cluster, "get", "service", service, "-n", NAMESPACE, "-o", "json",
                   show=False)
    return str(json.loads(out)["spec"]["selector"].get("rollouts-pod-template-hash", ""))


def _blue_green(cluster: Cluster, repo: DemoRepo) -> None:
    _heading("9. blue-green: a commit gives demo-bg the green version")
    _wait(cluster, "demo-bg to be Healthy (first version, active at once)", _at("Healthy"),
          name="demo-bg")
    blue = _status(cluster, "demo-bg")["stableRS"]
    sha = repo.commit_image("argoproj/rollouts-demo:green", "bluegreen.yaml")
    click.secho(f"$ git commit -am 'demo: deploy argoproj/rollouts-demo:green to demo-bg'"
                f"   # {sha}", fg="cyan")
    status = _wait(cluster, "the preview, its pre-promotion analysis, then BlueGreenPause",
                   lambda s: s.get("phase") == "Paused" and s.get("currentPodHash") != blue,
                   timeout=120, name="demo-bg")
    green = str(status["currentPodHash"])
    click.echo(f"   active service -> {_selector(cluster, 'demo-bg-active')} (blue), "
               f"preview service -> {_selector(cluster, 'demo-bg-preview')} (green)")
    pre = (status.get("blueGreen") or {}).get("prePromotionAnalysisRunStatus") or {}
    click.echo(f"   pre-promotion analysis {pre.get('name')}: {pre.get('status')}")
    if _selector(cluster, "demo-bg-active") != blue or pre.get("status") != "Successful":
        raise DemoFailed("before promotion the active Service must stay on blue, after a "
                         "successful pre-promotion analysis")
    _rollouts(cluster, "get", "rollout", "demo-bg")

    _heading("10. promote: the active Service switches to green")
    _rollouts(cluster, "promote", "demo-bg")
    _wait(cluster, "green to be active and stable",
          lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == green,
          name="demo-bg")
    active = _selector(cluster, "demo-bg-active")
    click.echo(f"   active service -> {active}")
    if active != green:
        raise DemoFailed(f"the active Service selects {active}, not the promoted {green}")
    _rollouts(cluster, "get", "rollout", "demo-bg")


QUERIES = (
    ("rollouts by phase", 'sum by (phase) (rollout_info{namespace="rollouts-demo"})'),
    ("canary weight now", 'rollout_canary_weight{namespace="rollouts-demo"}'),
    ("current step", 'rollout_step{namespace="rollouts-demo"}'),
    ("last analysis values", 'analysis_run_measurement_value{namespace="rollouts-demo"}'),
    ("analysis runs by phase", 'sum by (phase) (analysis_run_info{namespace="rollouts-demo"})'),
    ("events by reason",
     'sum by (reason) (rollout_events_total{namespace="rollouts-demo"})'),
)


def _show_metrics(cluster: Cluster, metrics_port: int) -> None:
    _heading("11. what Grafana would show: PromQL answered by the local Prometheus")
    click.echo(f"   controller metrics: http://127.0.0.1:{metrics_port}/metrics")
    click.echo("   dashboards: manifests/grafana/{rollouts,analysis,applications}.json")
    time.sleep(3)  # one more scrape after the last change
    for title, query in QUERIES:
        url = f"{cluster.prometheus_url}/api/v1/query?" + urllib.parse.urlencode(
            {"query": query})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                result = json.load(response)["data"]["result"]
        except OSError as problem:
            raise DemoFailed(f"Prometheus did not answer {query}: {problem}") from None
        click.secho(f"$ {query}", fg="cyan")
        click.echo(f"   # {title}")
        if not result:
            raise DemoFailed(f"Prometheus has no data for {query}")
        for series in result:
            labels = {k: v for k, v in series["metric"].items()
                      if k not in ("job", "instance", "__name__", "namespace")}
            shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            click.echo(f"   {{{shown}}} {series['value'][1]}")


def main() -> None:
    try:
        run()
    except (DevClusterError, DemoFailed) as problem:
        click.secho(f"demo failed: {problem}", fg="red", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
