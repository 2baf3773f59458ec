"""The demo's real-traffic stage: requests through Traefik follow the canary's weight.

`demo-traffic` (`manifests/demo/traffic.yaml`: 4 replicas, setWeight 20 -> pause {} ->
setWeight 50 -> pause {}) routes through the Gateway API plugin: the controller writes
the weights of the HTTPRoute `demo-traffic`, and Traefik (`make traefik`, run by
`rollouts.devcluster.traefik`) serves that route to the pods, which answer HTTP on
their own IPs (`rollouts.devcluster.podnet`). After an image change, at each pause the
stage sends `REQUESTS` requests through Traefik and prints the share the canary's pods
answered next to the weight, then `rollouts promote`; at the end every answer comes
from the new stable.

Traefik and the pod responder run while the stage runs and are recorded in the dev
cluster's state, so `rollouts dev down` stops them if the demo could not. A machine
that cannot run them (Traefik not built, not root, no `ip`) gets one line saying why.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from typing import Any

import click

from rollouts.demo_shell import (
    MANIFESTS,
    NAMESPACE,
    DemoFailed,
    at,
    heading,
    kubectl,
        rollouts_cli,
    wait,
)
from rollouts.devcluster import Cluster, traefik
from rollouts.devcluster.traefik import Tally, Traefik

MANIFEST = "traffic.yaml"  # in manifests/demo/, applied here and kept out of the demo's Git
NAME = "demo-traffic"
HOST = "demo-traffic.test"  # the HTTPRoute's hostname
STABLE, CANARY = f"{NAME}-stable", f"{NAME}-canary"
REPLICAS = 4
REQUESTS = 1000
STEPS = ((1, 20), (3, 50))  # (index of the pause, the weight before it)
OLD_IMAGE, NEW_IMAGE = "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:green"


def run(cluster: Cluster, number: int) -> bool:
    """The stage, headed `number`; False (having said why) when this machine cannot."""
    heading(f"{number}. real traffic: Traefik in front of the pods, the Gateway API plugin "
            "moves the weight")
    reason = traefik.unavailable()
    if reason is not None:
        click.secho(f"   skipped: {reason}", fg="yellow")
        return False
    for leftover in traefik.stop_registered(cluster):
        click.echo(f"   stopped {leftover}, left by an earlier demo")
    click.secho(f"$ kubectl apply --server-side -f {traefik.traefik_dir() / 'crds'}   "
                "# Gateway API CRDs", fg="cyan")
    traefik.install_crds(cluster, traefik.crd_files())
    logs = cluster.directory / "logs"
    with traefik.pod_network(cluster, logs / "demo-podnet.log", register=True), \
            traefik.running_traefik(cluster, NAMESPACE, logs / "demo-traefik.log",
                                    register=True) as proxy:
        click.echo("   pod IPs answer HTTP: python -m rollouts.devcluster.podnet (network "
                   f"namespace rollouts-pods, log {logs / 'demo-podnet.log'})")
        click.echo(f"   Traefik {traefik.TRAEFIK_VERSION} on {proxy.url} (Gateway API "
                   f"provider, namespace {NAMESPACE}), ready in {proxy.started_seconds:.1f}s; "
                   f"log {proxy.log}")
        _walk(cluster, proxy)
    click.echo("   Traefik and the pod responder stopped; the pod network namespace removed")
    return True


def _apply(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    click.echo(cluster.kubectl_run("apply", "--server-side", "-f", "-",
                                   input_text=text).rstrip())


def _walk(cluster: Cluster, proxy: Traefik) -> None:
    click.secho(f"$ kubectl apply -f - -n {NAMESPACE}   # GatewayClass {traefik.GATEWAY_CLASS}"
                f", Gateway {traefik.GATEWAY} on Traefik's port {proxy.web_port}", fg="cyan")
    _apply(cluster, traefik.gateway(NAMESPACE, proxy.web_port))
    kubectl(cluster, "apply", "-n", NAMESPACE, "-f", str(MANIFESTS / "demo" / MANIFEST))
    old = str(wait(cluster, f"{NAME} to be Healthy", at("Healthy"), name=NAME)["stableRS"])
    proxy.wait_weights({STABLE: 100, CANARY: 0})
    proxy.wait_servers({STABLE: REPLICAS})
    tally = traefik.send(proxy.url, REQUESTS, HOST)
    _check(tally, {old})
    click.echo(f"   weight 0 -> stable ({_color(OLD_IMAGE)}) answered "
               f"{tally.versions[old]}/{tally.total} = {tally.share(old):.1f} %")

    click.secho(f"$ curl -H 'Host: {HOST}' {proxy.url}/", fg="cyan")
    click.echo(f"   {_one_answer(proxy)}")
    rollouts_cli(cluster, "set", "image", NAME, f"demo={NEW_IMAGE}")
    new = ""
    for step, weight in STEPS:
        status = wait(cluster, f"step {step + 1} (pause {{}}) at weight {weight}",
                      at("Paused", step), name=NAME)
        new = str(status["currentPodHash"])
        proxy.wait_weights({STABLE: 100 - weight, CANARY: weight})
        proxy.wait_servers({STABLE: REPLICAS, CANARY: math.ceil(REPLICAS * weight / 100)})
        tally = traefik.send(proxy.url, REQUESTS, HOST)
        _check(tally, {old, new})
        click.secho(f"   weight {weight} -> canary ({_color(NEW_IMAGE)}) answered "
                    f"{tally.versions[new]}/{tally.total} = {tally.share(new):.1f} %, "
                    f"stable ({_color(OLD_IMAGE)}) {tally.versions[old]}/{tally.total} "
                    f"({tally.total / max(tally.seconds, 1e-9):.0f} req/s)", bold=True)
        rollouts_cli(cluster, "get", "rollout", NAME)
        rollouts_cli(cluster, "promote", NAME)

    wait(cluster, f"{_color(NEW_IMAGE)} to be the stable",
         lambda s: s.get("stableRS") == new and s.get("currentStepIndex") == len(STEPS) * 2,
         name=NAME)
    proxy.wait_weights({STABLE: 100, CANARY: 0})
    # The stable Service now selects the new pods; Traefik follows its EndpointSlice.
    _wait_answers(proxy, new)
    tally = traefik.send(proxy.url, REQUESTS, HOST)
    _check(tally, {new})
    click.secho(f"   promoted: weight 0 -> old stable ({_color(OLD_IMAGE)}) answered "
                f"{tally.versions[old]}/{tally.total} = {tally.share(old):.1f} %, new stable "
                f"({_color(NEW_IMAGE)}) {tally.versions[new]}/{tally.total} = "
                f"{tally.share(new):.1f} %", bold=True)
    # Argo's default with a traffic router: the old pods stay 30 s after the switch, so
    # proxies that still route to them are answered.
    wait(cluster, "the old ReplicaSet to scale down (scaleDownDelaySeconds, 30 s by default "
         "with a traffic router)",
         lambda s: s.get("phase") == "Healthy" and s.get("availableReplicas") == REPLICAS
         and s.get("replicas") == REPLICAS, name=NAME, timeout=90)
    rollouts_cli(cluster, "get", "rollout", NAME)


def _color(image: str) -> str:
    return image.rsplit(":", 1)[-1]


def _one_answer(proxy: Traefik) -> str:
    request = urllib.request.Request(f"{proxy.url}/", headers={"Host": HOST})
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode(errors="replace"))


def _check(tally: Tally, versions: set[str]) -> None:
    """Every request answered 200 by a pod of the expected versions, or fail saying so."""
    if tally.statuses != {200: tally.total} or set(tally.versions) - versions:
        raise DemoFailed(f"requests through Traefik got {dict(tally.statuses)} from "
                         f"{dict(tally.versions)}, expected 200 from {sorted(versions)}: "
                         f"{dict(tally.errors)}")


def _wait_answers(proxy: Traefik, version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (seen := traefik.send(proxy.url, 20, HOST)).versions != {version: 20}:
        if time.monotonic() > deadline:
            raise DemoFailed(f"after {timeout:.0f}s answers still came from "
                             f"{dict(seen.versions)}, not only {version}")
        time.sleep(0.2)

