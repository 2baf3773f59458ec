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
4. real traffic (`demo_traffic.py`): `demo-traffic` routes through the Gateway API
   plugin and Traefik; at each pause 1,000 requests through Traefik measure the
   canary's share next to its weight (skipped, saying why, without Traefik or root).

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
from typing import Any

import click

from rollouts import demo_traffic
from rollouts.demo_app import DemoApp
from rollouts.demo_git import DemoRepo
from rollouts.demo_shell import (
    MANIFESTS,
    NAMESPACE,
    DemoFailed,
    at,
    heading,
    kubectl,
    rollout_status,
    rollouts_cli,
    wait,
)
from rollouts.devcluster import Cluster, DevClusterError, up
from rollouts.devcluster.process import free_port
from rollouts.kube import KubeClient


def run() -> None:
    heading("1. local control plane (etcd, kube-apiserver, controller-manager, scheduler, "
            "kwok, prometheus)")
    cluster = up(lambda line: click.echo(f"   {line}"))
    kubectl(cluster, "get", "nodes")

    heading("2. install the CRDs and a fresh demo namespace")
    kubectl(cluster, "apply", "--server-side", "-k", str(MANIFESTS))
    cluster.wait_for_crds(["rollouts.argoproj.io", "analysisruns.argoproj.io",
                           "analysistemplates.argoproj.io", "applications.argoproj.io",
                           "experiments.argoproj.io"])
    kubectl(cluster, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    kubectl(cluster, "create", "namespace", NAMESPACE)

    heading("3. start the controller (rollouts + analysis + reconciler) and the demo app's "
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
    repo = DemoRepo(cluster.directory / "demo-repo", MANIFESTS / "demo",
                    exclude=(demo_traffic.MANIFEST,))
    try:
        repo.__enter__()
        _deploy_from_git(cluster, repo)
        _walk_the_canary(cluster, repo)
        _bad_version_aborts(cluster, repo)
        _blue_green(cluster, repo)
        traffic = demo_traffic.run(cluster, 11)
        _show_metrics(cluster, metrics_port, traffic=traffic)
    finally:
        repo.__exit__(None, None, None)
        target.unlink(missing_ok=True)
        app.close()
        controller.terminate()
        controller.wait(15)

    heading("done: green passed its analysis and was promoted; red failed it and was "
            "rolled back; the blue-green rollout switched after its analysis and a promote"
            + ("; real requests through Traefik followed the canary's weights" if traffic
               else ""))
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
    out = kubectl(cluster, "get", "application", "demo", "-n", NAMESPACE, "-o", "json",
                  show=False)
    return dict(json.loads(out).get("status") or {})


def _deploy_from_git(cluster: Cluster, repo: DemoRepo) -> None:
    heading("4. the demo lives in Git: an Application syncs it (first version: straight "
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
    wait(cluster, "the Rollout to be Healthy", at("Healthy"))
    rollouts_cli(cluster, "app", "get", "demo")
    kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)


def _walk_the_canary(cluster: Cluster, repo: DemoRepo) -> None:
    heading("5. a commit changes the image: setWeight 20, then a 10s pause")
    sha = repo.commit_image("argoproj/rollouts-demo:green")
    click.secho(f"$ git commit -am 'demo: deploy argoproj/rollouts-demo:green'   # {sha}",
                fg="cyan")
    wait(cluster, "step 2 (pause 10s)", at("Paused", 1))
    rollouts_cli(cluster, "get", "rollout", "demo")

    heading("6. the pause expires by itself: setWeight 50, then the analysis")
    wait(cluster, "step 4 (analysis) to start", at("Progressing", 3), timeout=60)
    rollouts_cli(cluster, "get", "rollout", "demo")
    wait(cluster, "the analysis to pass: step 5 (pause until promoted)", at("Paused", 4),
         timeout=90)
    kubectl(cluster, "get", "analysisruns", "-n", NAMESPACE)
    rollouts_cli(cluster, "get", "rollout", "demo")

    heading("7. promote")
    rollouts_cli(cluster, "promote", "demo")
    wait(cluster, "Healthy on the new version",
         lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == s.get("currentPodHash")
         and s.get("availableReplicas") == 5 and s.get("replicas") == 5)
    kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)
    rollouts_cli(cluster, "get", "rollout", "demo")
    rollouts_cli(cluster, "status", "demo")


def _bad_version_aborts(cluster: Cluster, repo: DemoRepo) -> None:
    heading("8. a bad version (:red) is committed: its success rate is 42%")
    stable = rollout_status(cluster)["stableRS"]
    sha = repo.commit_image("argoproj/rollouts-demo:red")
    click.secho(f"$ git commit -am 'demo: deploy argoproj/rollouts-demo:red'   # {sha}",
                fg="cyan")
    status = wait(cluster, "the analysis to fail and the rollout to abort",
                  lambda s: s.get("phase") == "Degraded" and bool(s.get("abort")), timeout=120)
    click.echo(f"   message: {status.get('message')}")
    wait(cluster, "all replicas back on the stable version",
         lambda s: s.get("stableRS") == stable and s.get("availableReplicas") == 5
         and s.get("updatedReplicas") == 0, timeout=60)
    kubectl(cluster, "get", "analysisruns", "-n", NAMESPACE)
    rollouts_cli(cluster, "get", "rollout", "demo")
    click.secho("$ rollouts status demo   # exits 1: what a CI pipeline would see", fg="cyan")
    result = subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", "status", "demo", "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}"], capture_output=True, text=True, check=False)
    click.echo((result.stdout + result.stderr).rstrip() + f"\n   (exit {result.returncode})")
    if result.returncode != 1:
        raise DemoFailed("rollouts status should exit 1 for an aborted rollout")
    rollouts_cli(cluster, "app", "get", "demo")


def _selector(cluster: Cluster, service: str) -> str:
    out = kubectl(cluster, "get", "service", service, "-n", NAMESPACE, "-o", "json",
                  show=False)
    return str(json.loads(out)["spec"]["selector"].get("rollouts-pod-template-hash", ""))


def _blue_green(cluster: Cluster, repo: DemoRepo) -> None:
    heading("9. blue-green: a commit gives demo-bg the green version")
    wait(cluster, "demo-bg to be Healthy (first version, active at once)", at("Healthy"),
         name="demo-bg")
    blue = rollout_status(cluster, "demo-bg")["stableRS"]
    sha = repo.commit_image("argoproj/rollouts-demo:green", "bluegreen.yaml")
    click.secho(f"$ git commit -am 'demo: deploy argoproj/rollouts-demo:green to demo-bg'"
                f"   # {sha}", fg="cyan")
    status = wait(cluster, "the preview, its pre-promotion analysis, then BlueGreenPause",
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
    rollouts_cli(cluster, "get", "rollout", "demo-bg")

    heading("10. promote: the active Service switches to green")
    rollouts_cli(cluster, "promote", "demo-bg")
    wait(cluster, "green to be active and stable",
         lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == green,
         name="demo-bg")
    active = _selector(cluster, "demo-bg-active")
    click.echo(f"   active service -> {active}")
    if active != green:
        raise DemoFailed(f"the active Service selects {active}, not the promoted {green}")
    rollouts_cli(cluster, "get", "rollout", "demo-bg")


QUERIES = (
    ("rollouts by phase", 'sum by (phase) (rollout_info{namespace="rollouts-demo"})'),
    ("canary weight now", 'rollout_canary_weight{namespace="rollouts-demo"}'),
    ("current step", 'rollout_step{namespace="rollouts-demo"}'),
    ("last analysis values", 'analysis_run_measurement_value{namespace="rollouts-demo"}'),
    ("analysis runs by phase", 'sum by (phase) (analysis_run_info{namespace="rollouts-demo"})'),
    ("events by reason",
     'sum by (reason) (rollout_events_total{namespace="rollouts-demo"})'),
)


# Traefik stopped with the traffic stage: its series are read over the last minutes.
TRAFFIC_QUERY = ("requests Traefik answered, by Service and code",
                 'sum by (service, code) (max_over_time(traefik_service_requests_total'
                 '{namespace="rollouts-demo"}[15m]))')


def _show_metrics(cluster: Cluster, metrics_port: int, *, traffic: bool) -> None:
    heading("12. what Grafana would show: PromQL answered by the local Prometheus")
    click.echo(f"   controller metrics: http://127.0.0.1:{metrics_port}/metrics")
    click.echo("   dashboards: manifests/grafana/{rollouts,analysis,applications}.json")
    time.sleep(3)  # one more scrape after the last change
    for title, query in (*QUERIES, *([TRAFFIC_QUERY] if traffic else [])):
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
