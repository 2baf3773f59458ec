"""The local control plane: `up`, `down`, `status` and `env` of DESIGN.md section 9.

`up` starts, in order and each after the previous one is healthy: etcd, the
kube-apiserver (our own CA, a bearer token for an admin in `system:masters`, RBAC),
the controller-manager, the scheduler, kwok (fake kubelets driven by
`kwok-stages.yaml`) with three fake nodes, and Prometheus (Debian's binary, our own
config, scraping whatever `targets/*.json` lists). Everything listens on 127.0.0.1 on
ports chosen free at start. The state file records the PIDs, ports and paths, so
`down` stops exactly what `up` started and `status` can tell what runs.

A second, named cluster (`up(say, name="second")`, `rollouts dev up --name second`) is
the same in its own directory (`state_dir(name)`), with its own ports, CA, tokens and a
kubeconfig whose cluster, user and context are named `rollouts-dev-<name>`, so the two
kubeconfigs merge (`KUBECONFIG=a:b`) without one shadowing the other: what a
multi-cluster test or demo registers as a destination.

`stop_component`, `start_component` and `restart_component` stop and start one
component by name with its recorded command line (the chaos harness, tests/chaos).

Any failure stops what was started and raises `DevClusterError` naming the component
and its log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rollouts.devcluster import pki, process
from rollouts.devcluster.build import ensure_built, tool_path
from rollouts.devcluster.errors import DevClusterError
from rollouts.devcluster.process import Running
from rollouts.devcluster.versions import ETCD, KUBERNETES, KWOK, state_dir

NODE_COUNT = 3
SERVICE_CIDR = "10.0.0.0/16"
"""Room for 65k ClusterIPs (a /24 was full after ~250 Services in the benchmarks)."""
CONTROLLER_MANAGER_QPS = 200
"""kube-controller-manager's client rate limit (its default is 20)."""
POD_CIDR = "10.1.0.0/16"
CONTEXT = "rollouts-dev"
"""The kubeconfig context (and cluster) name of the default dev cluster."""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$")
Say = Callable[[str], None]


def check_name(name: str) -> str:
    """A dev cluster name: a short DNS label (it names a directory and a context)."""
    if not _NAME.match(name):
        raise DevClusterError(f"cluster name {name!r} is not a short DNS label; use "
                              "lower-case letters, digits and '-', e.g. second")
    return name


@dataclass
class Cluster:
    """What a running dev cluster is: its directory, ports, processes and credentials."""

    directory: Path
    name: str = ""
    """Empty for the default cluster; else the `--name` it was started with."""
    admin_token: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Running] = field(default_factory=list)
    started_at: float = 0.0
    ready_seconds: float = 0.0

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def kubectl(self) -> Path:
        return tool_path(KUBERNETES, "kubectl")

    @property
    def context(self) -> str:
        """The kubeconfig context, cluster and user name of this cluster."""
        return f"{CONTEXT}-{self.name}" if self.name else CONTEXT

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def prometheus_targets(self) -> Path:
        """Drop a file_sd JSON file here and Prometheus scrapes its targets."""
        return self.directory / "prometheus" / "targets"

    @property
    def pki(self) -> pki.Pki:
        return pki.load(self.directory / "pki", self.admin_token)

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {
            "name": self.name,
            "admin_token": self.admin_token,
            "ports": self.ports,
            "processes": [p.to_json() for p in self.processes],
            "started_at": self.started_at,
            "ready_seconds": self.ready_seconds,
        }
        self.state_file.write_text(json.dumps(data, indent=2))
        self.state_file.chmod(0o600)

    @staticmethod
    def load(directory: Path | None = None) -> Cluster | None:
        directory = directory or state_dir()
        try:
            data = json.loads((directory / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return Cluster(
            directory=directory,
            name=str(data.get("name", "")),
            admin_token=str(data.get("admin_token", "")),
            ports={str(k): int(v) for k, v in dict(data.get("ports", {})).items()},
            processes=[Running.from_json(p) for p in data.get("processes", [])],
            started_at=float(data.get("started_at", 0.0)),
            ready_seconds=float(data.get("ready_seconds", 0.0)),
        )

    def kubectl_run(self, *args: str, input_text: str | None = None) -> str:
        """Run our kubectl against this cluster; raise with kubectl's last error line."""
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text, capture_output=True, text=True, check=False, timeout=60,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DevClusterError(f"kubectl {' '.join(args[:2])} failed: {last}")
        return result.stdout

    def wait_for_crds(self, names: list[str], timeout: float = 60.0) -> None:
        """Wait until each named CRD is Established (`kubectl wait` fails instead of
        waiting while a new CRD has no conditions yet, so this polls)."""
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            try:
                items = json.loads(self.kubectl_run("get", "crd", "-o", "json"))["items"]
            except (DevClusterError, ValueError):
                items = []
            established = {
                crd["metadata"]["name"] for crd in items
                for condition in (crd.get("status") or {}).get("conditions") or []
                if condition.get("type") == "Established" and condition.get("status") == "True"
            }
            pending = [name for name in names if name not in established]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise DevClusterError(f"CRDs not established after {timeout:.0f}s: "
                                      f"{', '.join(pending)}")
            time.sleep(0.25)

    def healthy(self) -> dict[str, bool]:
        """Each component's health, probed now."""
        ca = self.pki.ca_cert
        probes: dict[str, Callable[[], bool]] = {
            "etcd": lambda: process.http_ok(
                f"http://127.0.0.1:{self.ports['etcd']}/health", expect="true"),
            "kube-apiserver": lambda: process.http_ok(
                f"{self.server}/readyz", token=self.admin_token, ca_file=ca),
            "kube-scheduler": lambda: process.http_ok(
                f"https://127.0.0.1:{self.ports['scheduler']}/healthz", verify=False),
            "prometheus": lambda: process.http_ok(f"{self.prometheus_url}/-/ready"),
        }
        result = {}
        for running in self.processes:
            probe = probes.get(running.name)
            result[running.name] = running.alive() and (probe() if probe else True)
        return result


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Serialize `up`/`down` on one state directory across processes (test sessions)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f".{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(say: Say, *, directory: Path | None = None, build: bool = True,
       name: str | None = None) -> Cluster:
    """Start the control plane, or return the one already running and healthy. `name`
    starts a second, named cluster beside the default one (see the module docstring)."""
    if name:
        check_name(name)
    directory = directory or state_dir(name)
    with _exclusive(directory):
        return _up(say, directory, build, name or "")


def _up(say: Say, directory: Path, build: bool, name: str = "") -> Cluster:
    existing = Cluster.load(directory)
    if existing is not None:
        health = existing.healthy()
        if health and all(health.values()):
            say(f"dev cluster already up ({existing.server})")
            return existing
        say("dev cluster state found but not healthy; stopping what is left and starting anew")
        _down(say, directory, quiet=True)

    if build:
        ensure_built(say)
    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        raise DevClusterError(
            "prometheus is not installed; run `make deps` (or apt-get install prometheus)"
        )
    started = time.monotonic()
    if directory.exists():
        shutil.rmtree(directory)
    cluster = Cluster(directory=directory, name=name, started_at=time.time())
    try:
        _start_all(cluster, prometheus_binary, say)
    except BaseException:
        _stop_processes(cluster)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    cluster.ready_seconds = round(time.monotonic() - started, 2)
    cluster.save()
    say(f"dev cluster ready in {cluster.ready_seconds:.1f}s: {cluster.server}")
    return cluster


def _start_all(cluster: Cluster, prometheus_binary: str, say: Say) -> None:
    directory = cluster.directory
    logs = directory / "logs"
    material = pki.generate(directory / "pki")
    cluster.admin_token = material.admin_token
    for name in ("etcd", "etcd-peer", "apiserver", "scheduler", "prometheus"):
        cluster.ports[name] = process.free_port()
    cluster.save()

    def launch(name: str, argv: list[str]) -> Running:
        running = process.start(name, argv, logs / f"{name}.log")
        cluster.processes.append(running)
        cluster.save()
        return running

    etcd = launch("etcd", _etcd_argv(cluster))
    process.wait_until(etcd, cluster_probe(cluster, "etcd"), what="healthy", timeout=30)
    say(f"etcd up on 127.0.0.1:{cluster.ports['etcd']}")

    apiserver = launch("kube-apiserver", _apiserver_argv(cluster, material))
    _write_kubeconfig(cluster, material)
    process.wait_until(apiserver, cluster_probe(cluster, "kube-apiserver"),
                       what="ready", timeout=90)
    say(f"kube-apiserver up on {cluster.server}")

    manager = launch("kube-controller-manager", _controller_manager_argv(cluster, material))
    scheduler = launch("kube-scheduler", _scheduler_argv(cluster))
    stages = directory / "kwok-stages.yaml"
    stages.write_text(resources.files("rollouts.devcluster").joinpath(
        "kwok-stages.yaml").read_text())
    kwok = launch("kwok", _kwok_argv(cluster, stages))
    prometheus = launch("prometheus", _prometheus_argv(cluster, prometheus_binary))

    process.wait_until(scheduler, cluster_probe(cluster, "kube-scheduler"),
                       what="healthy", timeout=60)
    process.wait_until(prometheus, cluster_probe(cluster, "prometheus"),
                       what="ready", timeout=60)
    say(f"prometheus up on {cluster.prometheus_url}")
    cluster.kubectl_run("apply", "-f", "-", input_text=json.dumps(_nodes_manifest()))
    process.wait_until(kwok, lambda: _nodes_ready(cluster) == NODE_COUNT,
                       what="serving Ready fake nodes", timeout=60)
    say(f"{NODE_COUNT} fake nodes Ready (kwok)")
    process.wait_until(manager, lambda: _default_service_account(cluster),
                       what="creating service accounts", timeout=60)
    say("kube-controller-manager and kube-scheduler up")


def cluster_probe(cluster: Cluster, name: str) -> Callable[[], bool]:
    return lambda: cluster.healthy().get(name, False)


def down(say: Say, *, directory: Path | None = None, quiet: bool = False) -> bool:
    """Stop exactly the processes `up` started and remove their state. False if none."""
    directory = directory or state_dir()
    with _exclusive(directory):
        return _down(say, directory, quiet)


def _down(say: Say, directory: Path, quiet: bool) -> bool:
    cluster = Cluster.load(directory)
    if cluster is None:
        if not quiet:
            say("no dev cluster is running")
        return False
    _stop_processes(cluster)
    shutil.rmtree(directory, ignore_errors=True)
    if not quiet:
        say(f"dev cluster stopped ({len(cluster.processes)} processes) and its state removed")
    return True


def _stop_processes(cluster: Cluster) -> None:
    # Reverse start order: kwok and the controllers go before the API server and etcd.
    for running in reversed(cluster.processes):
        process.stop(running)


def _etcd_argv(cluster: Cluster) -> list[str]:
    client = f"http://127.0.0.1:{cluster.ports['etcd']}"
    peer = f"http://127.0.0.1:{cluster.ports['etcd-peer']}"
    return [
        str(tool_path(ETCD, "etcd")),
        "--name=dev",
        f"--data-dir={cluster.directory / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=dev={peer}",
        "--unsafe-no-fsync",
        "--watch-progress-notify-interval=5s",
        "--log-level=warn",
    ]


def _apiserver_argv(cluster: Cluster, material: pki.Pki) -> list[str]:
    return [
        str(tool_path(KUBERNETES, "kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{cluster.ports['etcd']}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={cluster.ports['apiserver']}",
        f"--tls-cert-file={material.server_cert}",
        f"--tls-private-key-file={material.server_key}",
        f"--client-ca-file={material.ca_cert}",
        f"--token-auth-file={material.token_file}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={material.sa_pub}",
        f"--service-account-signing-key-file={material.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--v=1",
    ]


def _controller_manager_argv(cluster: Cluster, material: pki.Pki) -> list[str]:
    kubeconfig = str(cluster.kubeconfig)
    return [
        str(tool_path(KUBERNETES, "kube-controller-manager")),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--service-account-private-key-file={material.sa_key}",
        f"--root-ca-file={material.ca_cert}",
        "--leader-elect=false",
        "--secure-port=0",
        "--use-service-account-credentials=false",
        f"--cluster-cidr={POD_CIDR}",
        # Client-side rate limits above the defaults (20 qps, burst 30, 5 ReplicaSet
        # workers): with them, pods for 10,000 ReplicaSets took half an hour to create
        # and the benchmarks timed kube-controller-manager's queue, not the controller.
        f"--kube-api-qps={CONTROLLER_MANAGER_QPS}",
        f"--kube-api-burst={2 * CONTROLLER_MANAGER_QPS}",
        "--concurrent-replicaset-syncs=10",
        "--concurrent-deployment-syncs=10",
        "--v=1",
    ]


def _scheduler_argv(cluster: Cluster) -> list[str]:
    kubeconfig = str(cluster.kubeconfig)
    return [
        str(tool_path(KUBERNETES, "kube-scheduler")),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={cluster.ports['scheduler']}",
        "--v=1",
    ]


def _kwok_argv(cluster: Cluster, stages: Path) -> list[str]:
    return [
        str(tool_path(KWOK, "kwok")),
        f"--kubeconfig={cluster.kubeconfig}",
        f"--config={stages}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-lease-duration-seconds=40",
        f"--cidr={POD_CIDR}",
        "--node-ip=10.1.0.1",
    ]


def _prometheus_argv(cluster: Cluster, binary: str) -> list[str]:
    home = cluster.directory / "prometheus"
    cluster.prometheus_targets.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [
                {"targets": [f"127.0.0.1:{cluster.ports['prometheus']}"]}]},
            {"job_name": "dev", "file_sd_configs": [
                {"files": [str(cluster.prometheus_targets / "*.json")]}]},
        ],
    }, indent=2))
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{cluster.ports['prometheus']}",
        "--web.enable-remote-write-receiver",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]


def _write_kubeconfig(cluster: Cluster, material: pki.Pki) -> None:
    context = cluster.context
    user = f"admin-{cluster.name}" if cluster.name else "admin"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": cluster.server, "certificate-authority": str(material.ca_cert)}}],
        "users": [{"name": user, "user": {"token": material.admin_token}}],
        "contexts": [{"name": context, "context": {
            "cluster": context, "user": user, "namespace": "default"}}],
        "current-context": context,
    }
    cluster.kubeconfig.write_text(json.dumps(config, indent=2))
    cluster.kubeconfig.chmod(0o600)


def _nodes_manifest() -> dict[str, object]:
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    nodes = []
    for index in range(NODE_COUNT):
        name = f"kwok-node-{index}"
        nodes.append({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                           "kubernetes.io/arch": "amd64", "type": "kwok"},
            },
            "spec": {"podCIDR": f"10.1.{index}.0/24"},
            "status": {"allocatable": capacity, "capacity": capacity},
        })
    return {"apiVersion": "v1", "kind": "List", "items": nodes}


def _nodes_ready(cluster: Cluster) -> int:
    try:
        out = cluster.kubectl_run("get", "nodes", "-o", "json")
    except DevClusterError:
        return 0
    ready = 0
    for node in json.loads(out).get("items", []):
        for condition in node.get("status", {}).get("conditions", []):
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                ready += 1
    return ready


def _default_service_account(cluster: Cluster) -> bool:
    try:
        cluster.kubectl_run("get", "serviceaccount", "default", "-n", "default", "-o", "name")
    except DevClusterError:
        return False
    return True


# --- one component at a time (the chaos harness: tests/chaos) -------------------------

COMPONENT_READY_SECONDS = 90.0
"""How long `start_component` waits for a restarted component to be healthy again."""
COMPONENT_STOP_GRACE_SECONDS = 10.0
"""How long `stop_component` lets a component shut down after SIGTERM before SIGKILL
(kube-apiserver drains for about this long; etcd takes ~7 s here)."""


def _component(cluster: Cluster, name: str) -> tuple[int, Running]:
    for index, running in enumerate(cluster.processes):
        if running.name == name:
            return index, running
    names = ", ".join(running.name for running in cluster.processes)
    raise DevClusterError(f"no component '{name}' in the dev cluster; choose from {names}")


def stop_component(say: Say, name: str, *, directory: Path | None = None,
                   grace_seconds: float = COMPONENT_STOP_GRACE_SECONDS) -> Running:
    """Stop one component of the running dev cluster: SIGTERM, then SIGKILL after
    `grace_seconds` (0: at once, a crash).

    Its entry stays in the state file, so `start_component` can start it again as it
    was and `down` still knows about it.
    """
    directory = directory or state_dir()
    with _exclusive(directory):
        cluster = _loaded(directory)
        _, running = _component(cluster, name)
        process.stop(running, grace_seconds=grace_seconds)
        say(f"{name} stopped (pid {running.pid})")
        return running


def start_component(say: Say, name: str, *, directory: Path | None = None,
                    timeout: float = COMPONENT_READY_SECONDS) -> Running:
    """Start one stopped component again with its recorded argv and log; wait until it
    is healthy (components without a probe: alive). Fails if it still runs."""
    directory = directory or state_dir()
    with _exclusive(directory):
        cluster = _loaded(directory)
        index, old = _component(cluster, name)
        if old.alive():
            raise DevClusterError(f"{name} is still running (pid {old.pid}); stop it first "
                                  f"or use restart_component")
        if not old.argv:
            raise DevClusterError(f"{name} was started by an older version that did not "
                                  "record its command line; run `rollouts dev down` and "
                                  "`rollouts dev up`")
        running = process.start(name, list(old.argv), Path(old.log))
        cluster.processes[index] = running
        cluster.save()
        process.wait_until(running, cluster_probe(cluster, name), what="healthy",
                           timeout=timeout)
        say(f"{name} started again (pid {running.pid})")
        return running


def restart_component(say: Say, name: str, *, directory: Path | None = None,
                      down_seconds: float = 0.0,
                      grace_seconds: float = COMPONENT_STOP_GRACE_SECONDS,
                      timeout: float = COMPONENT_READY_SECONDS) -> Running:
    """Stop one component, leave it down `down_seconds`, start it and wait until healthy."""
    stop_component(say, name, directory=directory, grace_seconds=grace_seconds)
    if down_seconds > 0:
        time.sleep(down_seconds)
    return start_component(say, name, directory=directory, timeout=timeout)


def _loaded(directory: Path) -> Cluster:
    cluster = Cluster.load(directory)
    if cluster is None:
        raise DevClusterError(f"no dev cluster in {directory}; start one with `rollouts dev up`")
    return cluster
