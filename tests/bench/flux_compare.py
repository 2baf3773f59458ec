"""Benchmark: our GitOps reconciler beside Flux on the same repository (issue 13 item 4).

Opt-in (`python -m tests.bench.run flux`): it builds Flux's source-controller and
kustomize-controller from the Go module proxy (tests/tooling/build_flux.sh) and brings up its
own dev cluster (`~/.cache/rollouts/bench-flux`), stopped at the end.

The repository is gitops_scale's (`fleet_files`: `apps/app-NNNN/` with a ConfigMap, a
headless Service and a ServiceAccount each), committed once and served on 127.0.0.1 twice
from the same directory: by `git daemon` for ours and by `git http-backend` (basic auth) for
Flux, whose GitRepository takes only http(s) and ssh URLs.

1. OURS: `rollouts controller --controllers reconciler` (gitops_scale.Controller), N
   Applications created by 4 client threads, measured as gitops_scale measures them; then the
   controller stops and the namespace is deleted (and waited for).
2. FLUX: both controllers as processes outside the cluster (KUBECONFIG, no leader election,
   one watched namespace), one GitRepository and N Kustomizations (`path: ./apps/app-NNNN`,
   `prune: true`, `wait: true`, `targetNamespace`), the GitRepository's and Kustomizations'
   interval equal to our resync. CPU and peak RSS are the two processes' summed; API
   requests are controller-runtime's `rest_client_requests_total` from both /metrics.

For each side: first object created -> all Synced+Healthy (ours) / Ready=True at the
current generation (Flux) -- a side that has not made them all ready within
FLUX_TIME_LIMIT seconds (default 1.5 s per app, at least 600) is recorded at that limit with
how many it had made ready --, CPU seconds, peak RSS, API requests per app, and a no-op window
of GITOPS_WINDOW_RESYNCS (2.5) intervals: writes, all requests, CPU. One table, ours |
Flux | Flux/ours, goes into the notes; the rows hold each side's figures.

Env: FLUX_APPS (1000), GITOPS_RESYNC (60 s), GITOPS_WORKERS (10: ours' workers and both Flux
controllers' --concurrent), GITOPS_WINDOW_RESYNCS (2.5), FLUX_WAIT (1: Kustomizations
health-check what they applied, as ours assesses health; 0: Ready when applied).
Neighbours: tests/bench/gitops_scale.py (repository, our controller, its metrics),
tests/integration/gitserver.py (the Git servers), tests/bench/report.py (record).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.devcluster import down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import APPLICATION, SECRET, Informer, KubeClient
from rollouts.kube.kinds import Kind
from tests.bench import gitops_scale
from tests.bench.gitops_scale import Controller
from tests.bench.report import env_number, record
from tests.integration.gitserver import GitDaemon, GitHttpServer

FLUX_NAMESPACE = "bench-flux"
KUSTOMIZATION = Kind("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
GIT_REPOSITORY = Kind("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
HTTP_WRITES = ("POST", "PUT", "PATCH", "DELETE")
REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "tooling" / "build_flux.sh"
GIT_USER, GIT_PASSWORD = "flux", "bench"


# --- pure parts ------------------------------------------------------------------------

@dataclass(frozen=True)
class FluxBuild:
    """What build_flux.sh --print said: controller -> (version, binary), and the CRD files."""

    binaries: dict[str, tuple[str, Path]]
    crds: list[Path]


def parse_build(text: str) -> FluxBuild:
    """Read `bin <controller> <version> <path>` and `crd <path>` lines."""
    binaries: dict[str, tuple[str, Path]] = {}
    crds: list[Path] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "bin":
            binaries[parts[1]] = (parts[2], Path(parts[3]))
        elif len(parts) == 2 and parts[0] == "crd":
            crds.append(Path(parts[1]))
    missing = {"source-controller", "kustomize-controller"} - set(binaries)
    if missing or not crds:
        raise RuntimeError(f"flux benchmark: {BUILD_SCRIPT.name} --print named no "
                           f"{', '.join(sorted(missing)) or 'CRD'}; run it by hand to see why")
    return FluxBuild(binaries, crds)


def label(key: str, name: str) -> str:
    """The value of label `name` in a Prometheus series key (`x{a="1",b="2"}`), or ""."""
    marker = f'{name}="'
    return key.split(marker, 1)[1].split('"', 1)[0] if marker in key else ""


def flux_series(text: str) -> dict[str, float]:
    """The series of a controller-runtime /metrics page that this benchmark reads: API
    requests (`rest_client_requests_total{code,host,method}`) and reconciles
    (`controller_runtime_reconcile_total{controller,result}`)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("rest_client_requests_total{", "controller_runtime_reconcile_total{")):
            key, value = line.rsplit(" ", 1)
            values[key] = values.get(key, 0.0) + float(value)
    return values


def by_method(series: dict[str, float]) -> dict[str, float]:
    """API requests by HTTP method, from `flux_series` values (or a difference of them)."""
    methods: dict[str, float] = {}
    for key, value in series.items():
        if key.startswith("rest_client_requests_total"):
            method = label(key, "method") or "?"
            methods[method] = methods.get(method, 0.0) + value
    return methods


def reconciles(series: dict[str, float]) -> dict[str, float]:
    """Reconciles by controller (`kustomization`, `gitrepository`, ...), all results."""
    counts: dict[str, float] = {}
    for key, value in series.items():
        if key.startswith("controller_runtime_reconcile_total"):
            name = label(key, "controller") or "?"
            counts[name] = counts.get(name, 0.0) + value
    return counts


def kustomization_ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the object's current generation, with a revision applied."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
        return False
    if not status.get("lastAppliedRevision"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def git_repository(url: str, interval: float, secret: str) -> dict[str, Any]:
    return {"apiVersion": GIT_REPOSITORY.api_version, "kind": GIT_REPOSITORY.kind,
            "metadata": {"name": "fleet", "namespace": FLUX_NAMESPACE},
            "spec": {"url": url, "interval": f"{interval:g}s", "ref": {"branch": "main"},
                     "secretRef": {"name": secret}}}


def kustomization(name: str, path: str, interval: float, *, wait: bool) -> dict[str, Any]:
    return {"apiVersion": KUSTOMIZATION.api_version, "kind": KUSTOMIZATION.kind,
            "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
            "spec": {"interval": f"{interval:g}s", "path": f"./{path}", "prune": True,
                     "wait": wait, "targetNamespace": FLUX_NAMESPACE,
                     "sourceRef": {"kind": GIT_REPOSITORY.kind, "name": "fleet"}}}


@dataclass
class Side:
    """One controller's (or pair's) figures in this benchmark."""

    sync_seconds: float = 0.0
    create_seconds: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0
    requests: dict[str, float] = field(default_factory=dict)
    idle_requests: dict[str, float] = field(default_factory=dict)
    idle_writes: float = 0.0
    idle_cpu: float = 0.0
    idle_detail: str = ""
    ready: int = 0  # apps Synced+Healthy / Ready when the wait ended (all, unless timed out)


def ratio(ours: float, flux: float) -> str:
    """Flux / ours, as `x2.5`; `-` when ours is 0 (no ratio to give)."""
    if ours == 0:
        return "-" if flux == 0 else "n/a (ours 0)"
    return f"x{flux / ours:.2f}"


def figures(apps: int, window: float, ours: Side, flux: Side) -> list[tuple[str, str, float,
                                                                             float]]:
    """(figure, unit, ours, Flux) for each compared figure."""
    return [
        (f"{apps} apps: first created -> all Synced+Healthy / Ready (or the time limit)", "s",
         ours.sync_seconds, flux.sync_seconds),
        (f"{apps} apps: Synced+Healthy / Ready by then (more is better)", "apps", ours.ready,
         flux.ready),
        ("  of which creating the objects (4 client threads)", "s",
         ours.create_seconds, flux.create_seconds),
        ("controller CPU over that", "CPU-s", ours.cpu, flux.cpu),
        ("peak RSS (VmHWM; Flux: both processes' summed)", "MiB", ours.rss_mib, flux.rss_mib),
        ("API requests per app (all verbs)", "", sum(ours.requests.values()) / apps,
         sum(flux.requests.values()) / apps),
        (f"no-op window ({window:.0f} s): API writes", "", ours.idle_writes, flux.idle_writes),
        ("no-op window: API requests, all verbs", "", sum(ours.idle_requests.values()),
         sum(flux.idle_requests.values())),
        ("no-op window: CPU", "CPU-s", ours.idle_cpu, flux.idle_cpu),
    ]


def _number(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def table(compared: list[tuple[str, str, float, float]]) -> list[str]:
    """The Markdown table for the notes: figure | unit | ours | Flux | Flux/ours."""
    lines = ["| figure | unit | ours | Flux | Flux/ours |", "| --- | --- | --- | --- | --- |"]
    for figure, unit, ours, flux in compared:
        lines.append(f"| {figure.strip()} | {unit} | {_number(ours)} | {_number(flux)} "
                     f"| {ratio(ours, flux)} |")
    return lines


def rows(compared: list[tuple[str, str, float, float]], apps: int) -> list[dict[str, Any]]:
    """Report rows: each figure for ours, then for Flux."""
    out: list[dict[str, Any]] = []
    for side in ("ours", "Flux"):
        for figure, unit, ours, flux in compared:
            n = apps if "apps" in figure or "per app" in figure else 1
            out.append({"figure": f"{side}: {figure.strip()}", "n": n,
                        "value": _number(ours if side == "ours" else flux), "unit": unit})
    return out


def _counts(counts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(counts.items()) if v)


# --- I/O at the edges ------------------------------------------------------------------

def build() -> FluxBuild:
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "--print"], stdout=subprocess.PIPE,
                            text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"flux benchmark: {BUILD_SCRIPT} failed (exit "
                           f"{result.returncode}); its log above says why")
    return parse_build(result.stdout)


class FluxProcess(Controller):
    """One Flux controller outside the cluster; CPU, RSS and stop() as our Controller's."""

    def __init__(self, binary: Path, args: list[str], kubeconfig: Path, log: Path) -> None:
        self.port = free_port()
        self.health = free_port()
        self.process = subprocess.Popen(
            [str(binary), f"--metrics-addr=127.0.0.1:{self.port}",
             f"--health-addr=127.0.0.1:{self.health}", "--enable-leader-election=false",
             "--watch-all-namespaces=false", *args],
            env={**os.environ, "KUBECONFIG": str(kubeconfig),
                 "RUNTIME_NAMESPACE": FLUX_NAMESPACE},
            stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.log, self.binary = log, binary

    def metrics(self) -> dict[str, float]:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                            timeout=30) as answer:
                    return flux_series(answer.read().decode())
            except OSError as error:
                if self.process.poll() is not None:
                    raise RuntimeError(f"flux benchmark: {self.binary.name} exited "
                                       f"({self.process.returncode}); see {self.log}") from error
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _wait(informer: Informer, namespace: str, names: set[str],
          ready: Callable[[dict[str, Any]], bool], timeout: float) -> tuple[float, int]:
    """When all `names` are ready, seen on a watch (as gitops_scale.wait_all), and how
    many are; after `timeout` seconds, that moment and how many were ready by then (the
    run goes on and records it: a side that cannot keep up is a result)."""
    started = time.monotonic()
    while True:
        done = {o["metadata"]["name"] for o in informer.list(namespace) if ready(o)} & names
        if len(done) == len(names):
            return time.monotonic(), len(done)
        if time.monotonic() - started > timeout:
            print(f"flux benchmark: {len(names) - len(done)} of {len(names)} "
                  f"{informer.kind.kind}s not ready after {timeout:.0f} s; measuring on",
                  flush=True)
            return time.monotonic(), len(done)
        time.sleep(0.2)


def _limit(apps: int) -> float:
    """Seconds a side gets to make all apps ready (FLUX_TIME_LIMIT)."""
    return env_number("FLUX_TIME_LIMIT", max(600.0, apps * 1.5))


def _ours(client: KubeClient, kubeconfig: Path, log: Path, url: str, apps: int,
          workers: int, resync: float, window: float) -> Side:
    namespace = gitops_scale.NAMESPACE
    controller = Controller(kubeconfig, log, workers=workers, resync=resync)
    watched = Informer(client, APPLICATION, namespace)
    watched.start()
    side = Side()
    try:
        before, cpu_before = controller.metrics(), controller.cpu_seconds()
        names = {f"app-{i:04d}" for i in range(apps)}
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: client.create(
                APPLICATION, namespace, gitops_scale.application(n, url, f"apps/{n}")),
                sorted(names)))
        side.create_seconds = time.monotonic() - started
        finished, side.ready = _wait(watched, namespace, names, gitops_scale.app_ready,
                                     _limit(apps))
        side.sync_seconds = finished - started
        side.cpu = controller.cpu_seconds() - cpu_before
        side.rss_mib = controller.peak_rss_mib()
        side.requests = gitops_scale.by_verb(
            gitops_scale.metrics_delta(controller.metrics(), before))
        time.sleep(10)  # the last statuses reach the cache; nothing is pending
        before, cpu_before = controller.metrics(), controller.cpu_seconds()
        time.sleep(window)
        delta = gitops_scale.metrics_delta(controller.metrics(), before)
        side.idle_cpu = controller.cpu_seconds() - cpu_before
        side.idle_requests = gitops_scale.by_verb(delta)
        side.idle_writes = sum(n for v, n in side.idle_requests.items()
                               if v in gitops_scale.WRITES)
        ls_remote = sum(v for k, v in delta.items() if "ls-remote" in k)
        side.idle_detail = (f"ours: {_counts(side.idle_requests)}; git ls-remote "
                            f"{ls_remote:.0f}")
    finally:
        watched.stop()
        controller.stop()
    return side


def _flux(client: KubeClient, kubeconfig: Path, logs: Path, storage_dir: Path,
          flux_build: FluxBuild, url: str, apps: int, workers: int, resync: float,
          window: float, wait: bool) -> Side:
    storage = free_port()
    storage_dir.mkdir(parents=True, exist_ok=True)
    source_bin = flux_build.binaries["source-controller"][1]
    kustomize_bin = flux_build.binaries["kustomize-controller"][1]
    processes = [
        FluxProcess(source_bin, [f"--storage-path={storage_dir}",
                                 f"--storage-addr=127.0.0.1:{storage}",
                                 f"--storage-adv-addr=127.0.0.1:{storage}",
                                 f"--concurrent={workers}"],
                    kubeconfig, logs / "bench-flux-source-controller.log"),
        FluxProcess(kustomize_bin, [f"--concurrent={workers}"],
                    kubeconfig, logs / "bench-flux-kustomize-controller.log"),
    ]
    watched = Informer(client, KUSTOMIZATION, FLUX_NAMESPACE)
    watched.start()
    side = Side()

    def metrics() -> dict[str, float]:
        total: dict[str, float] = {}
        for process in processes:
            for key, value in process.metrics().items():
                total[key] = total.get(key, 0.0) + value
        return total

    def cpu() -> float:
        return sum(p.cpu_seconds() for p in processes)

    def each_cpu() -> list[float]:
        return [p.cpu_seconds() for p in processes]

    try:
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "fleet-auth", "namespace": FLUX_NAMESPACE},
                  "data": {k: base64.b64encode(v.encode()).decode()
                           for k, v in (("username", GIT_USER), ("password", GIT_PASSWORD))}}
        client.create(SECRET, FLUX_NAMESPACE, secret)
        before, cpu_before = metrics(), cpu()
        names = {f"app-{i:04d}" for i in range(apps)}
        started = time.monotonic()
        client.create(GIT_REPOSITORY, FLUX_NAMESPACE,
                      git_repository(url, resync, "fleet-auth"))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: client.create(
                KUSTOMIZATION, FLUX_NAMESPACE,
                kustomization(n, f"apps/{n}", resync, wait=wait)), sorted(names)))
        side.create_seconds = time.monotonic() - started
        finished, side.ready = _wait(watched, FLUX_NAMESPACE, names, kustomization_ready,
                                     _limit(apps))
        side.sync_seconds = finished - started
        side.cpu = cpu() - cpu_before
        side.rss_mib = sum(p.peak_rss_mib() for p in processes)
        side.requests = by_method(gitops_scale.metrics_delta(metrics(), before))
        time.sleep(10)
        before, cpu_before, each_before = metrics(), cpu(), each_cpu()
        time.sleep(window)
        delta = gitops_scale.metrics_delta(metrics(), before)
        side.idle_cpu = cpu() - cpu_before
        source_cpu, kustomize_cpu = (a - b for a, b in zip(each_cpu(), each_before,
                                                            strict=True))
        side.idle_requests = by_method(delta)
        side.idle_writes = sum(n for m, n in side.idle_requests.items() if m in HTTP_WRITES)
        side.idle_detail = (f"Flux: {_counts(side.idle_requests)}; reconciles "
                            f"{_counts(reconciles(delta))}; CPU source-controller "
                            f"{source_cpu:.1f} s, kustomize-controller {kustomize_cpu:.1f} s")
    finally:
        watched.stop()
        for process in processes:
            process.stop()
    return side


def run() -> None:
    apps = int(env_number("FLUX_APPS", 1000))
    resync = env_number("GITOPS_RESYNC", 60)
    workers = int(env_number("GITOPS_WORKERS", 10))
    window = env_number("GITOPS_WINDOW_RESYNCS", 2.5) * resync
    wait = os.environ.get("FLUX_WAIT", "1") != "0"
    flux_build = build()
    directory = cache_dir() / "bench-flux"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    kubectl = [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
    logs = cache_dir() / "bench-flux-logs"  # kept: `down` removes the cluster's directory
    logs.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([*kubectl, "apply", "--server-side", "-k", str(REPO / "manifests")],
                       check=True, capture_output=True)
        for crd in flux_build.crds:
            subprocess.run([*kubectl, "apply", "--server-side", "-f", str(crd)], check=True,
                           capture_output=True)
        for namespace in (gitops_scale.NAMESPACE, FLUX_NAMESPACE):
            subprocess.run([*kubectl, "create", "namespace", namespace], check=False,
                           capture_output=True)
        client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
        with tempfile.TemporaryDirectory() as tmp, GitDaemon(Path(tmp)) as daemon, \
                GitHttpServer(Path(tmp), GIT_USER, GIT_PASSWORD) as http:
            daemon.create_repo("fleet", gitops_scale.fleet_files(apps))
            print(f"== ours: {apps} Applications", flush=True)
            ours = _ours(client, cluster.kubeconfig, logs / "bench-flux-ours.log",
                         daemon.url("fleet"), apps, workers, resync, window)
            print(json.dumps(ours.__dict__), flush=True)
            # Ours is stopped; its Applications and the objects they applied go with the
            # namespace, so Flux starts on a control plane holding no more than ours did.
            subprocess.run([*kubectl, "delete", "namespace", gitops_scale.NAMESPACE,
                            "--timeout=900s"], check=True, capture_output=True)
            print(f"== Flux: {apps} Kustomizations", flush=True)
            flux = _flux(client, cluster.kubeconfig, logs, Path(tmp) / "flux-storage",
                         flux_build, http.url("fleet"), apps, workers, resync, window, wait)
            print(json.dumps(flux.__dict__), flush=True)
    finally:
        down(lambda _line: None, directory=directory)
    compared = figures(apps, window, ours, flux)
    versions = {name: version for name, (version, _path) in flux_build.binaries.items()}
    notes = "\n".join([
        f"The same Git repository (gitops_scale's: {apps} paths of a ConfigMap, a headless "
        "Service and a ServiceAccount) reconciled by ours (`rollouts controller "
        f"--controllers reconciler`, {workers} workers, resync {resync:.0f} s, served by "
        "`git daemon`) and then, after ours stopped and its namespace was deleted, by Flux "
        f"(source-controller {versions['source-controller']} and kustomize-controller "
        f"{versions['kustomize-controller']} built from the Go module proxy, run as "
        f"processes outside the cluster, --concurrent={workers} each; one GitRepository "
        f"over `git http-backend` and {apps} Kustomizations, interval {resync:.0f} s, "
        f"prune, wait={str(wait).lower()}). Ready for Flux is Ready=True at the current "
        "generation with a revision applied. Each Kustomization reconcile fetches and "
        "unpacks the GitRepository's whole artifact (every app path and `big/`). "
        "Flux's requests are controller-runtime's "
        "`rest_client_requests_total`; its writes are POST/PUT/PATCH/DELETE, which include "
        "server-side-apply dry runs (PATCH ?dryRun): its metrics do not tell them apart. "
        "Ours counts `rollouts_kube_requests_total`, writes are create/update/patch/apply/"
        "delete. Each interval Flux reconciles every Kustomization again, Ready or not "
        "(fetch, build, server-side apply dry run); ours polls the repository once per "
        "interval and diffs each app from its caches. A side short of all apps when its "
        f"time limit ({_limit(apps):.0f} s) came has its other figures measured up to "
        "that moment, and its no-op window is not a no-op. Taken on the bench "
        "machine as it was, other work included.", "",
        *table(compared), "",
        f"No-op window by verb: {ours.idle_detail}. {flux.idle_detail}."])
    record("flux", f"GitOps beside Flux: {apps} apps from one repository", rows(compared, apps),
           notes, {"kubernetes": KUBERNETES.version, **{f"flux {k}": v for k, v in
                                                         versions.items()}},
           {"ours": f"reconciler, {workers} workers, resync {resync:.0f} s",
            "flux": f"--concurrent={workers}, interval {resync:.0f} s, "
                    f"wait={str(wait).lower()}",
            "apps": str(apps), "no-op window": f"{window:.0f} s"})
