"""The two controllers `make bench-compare` measures, seen from outside their process.

`Ours` is `rollouts controller` (Python), `Argo` the real Argo Rollouts v1.10.2 controller
built by `make argo-rollouts` (tests/tooling/build_argo_rollouts.sh). Both run as child
processes of the benchmark, scoped to one namespace, without leader election, with the
same number of workers; each exposes:

- `requests()`: the API requests it has sent so far by lower-case verb, read from its
  own /metrics (ours: `rollouts_kube_requests_total{verb}`; Argo:
  `controller_clientset_k8s_request_total{kind,namespace,name,verb,status_code}`,
  summed over everything but the verb);
- `usage()`: CPU seconds (utime + stime) and current / peak RSS from /proc/PID, so the
  same code measures both;
- `crds()`: the CRD manifests it is installed with (ours: manifests/crds; Argo's own:
  manifests/crds of its Go module, the version the binary was built from).

Neighbours: `scenarios` drives them; `__main__` picks one at a time.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rollouts.devcluster import Cluster
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import cache_dir

REPO = Path(__file__).resolve().parents[3]
ARGO_VERSION = "v1.10.2"
ARGO_BINARY = cache_dir() / "bin" / f"argo-rollouts-{ARGO_VERSION}" / "rollouts-controller"
WORKERS = 4
TICKS = os.sysconf("SC_CLK_TCK")
OURS_METRIC = "rollouts_kube_requests_total{"
ARGO_METRIC = "controller_clientset_k8s_request_total{"


@dataclass(frozen=True)
class Usage:
    """What /proc says about a process at one moment."""

    cpu_seconds: float
    rss_mib: float
    peak_rss_mib: float


def read_usage(pid: int) -> Usage:
    """utime + stime (fields 14 and 15 of /proc/PID/stat) and VmRSS / VmHWM."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    status = {line.split(":", 1)[0]: line.split(":", 1)[1]
              for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line}
    return Usage(cpu, _kib(status, "VmRSS") / 1024, _kib(status, "VmHWM") / 1024)


def _kib(status: dict[str, str], key: str) -> int:
    return int(status.get(key, "0 kB").split()[0])


def parse_requests(text: str, metric: str) -> dict[str, float]:
    """Sum the counter lines starting with `metric` (name plus `{`) by lower-case verb."""
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(metric) or 'verb="' not in line:
            continue
        verb = line.split('verb="', 1)[1].split('"', 1)[0].lower()
        counts[verb] = counts.get(verb, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def parse_buckets(text: str, family: str, match: str = "") -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of histogram `family`, summed
    over its series whose labels contain `match`."""
    prefix = f"{family}_bucket{{"
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels, _, value = line[len(prefix):].rpartition("} ")
        if match not in labels:
            continue
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        key = math.inf if bound == "+Inf" else float(bound)
        buckets[key] = buckets.get(key, 0.0) + float(value)
    return buckets


def argo_crd_dir() -> Path:
    """Argo's CRDs in the Go module cache (the build script downloads the module)."""
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                              check=False).stdout.strip() or str(Path.home() / "go/pkg/mod")
    path = Path(modcache) / f"github.com/argoproj/argo-rollouts@{ARGO_VERSION}/manifests/crds"
    if not path.is_dir():
        raise SystemExit(f"bench-compare: Argo Rollouts' CRDs are not in {path}; run "
                         "`make argo-rollouts` (it downloads the module)")
    return path


class Controller:
    """One controller process; subclasses say how to start it and read its counter."""

    name = ""
    metric = ""

    def __init__(self, cluster: Cluster, namespace: str, log: Path,
                 controllers: str = "rollouts,analysis", workers: int = WORKERS) -> None:
        self.cluster, self.namespace, self.log = cluster, namespace, log
        self.controllers, self.workers = controllers, workers
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    # -- to define ----------------------------------------------------------------------
    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    @staticmethod
    def crds() -> list[Path]:
        raise NotImplementedError

    @staticmethod
    def settings() -> str:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------
    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                                            env=self.env(), cwd=REPO)
        self.requests(timeout=90)  # serving /metrics: started

    @property
    def pid(self) -> int:
        assert self.process is not None, "controller not started"
        return self.process.pid

    def alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} controller exited {self.process.returncode}: "
                               f"{self.tail()}")

    def requests(self, timeout: float = 30) -> dict[str, float]:
        return parse_requests(self.metrics(timeout), self.metric)

    def metrics(self, timeout: float = 30) -> str:
        """The controller's /metrics text (retried while its server starts)."""
        deadline = time.monotonic() + timeout
        while True:
            self.alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                            timeout=30) as answer:
                    return str(answer.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def usage(self) -> Usage:
        return read_usage(self.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def __enter__(self) -> Controller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Ours(Controller):
    name = "ours"
    metric = OURS_METRIC

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "rollouts.cli.main", "controller",
                f"--kubeconfig={self.cluster.kubeconfig}", "-n", self.namespace,
                "--no-leader-elect", "--port", str(self.port), "--workers", str(self.workers),
                "--controllers", self.controllers]

    @staticmethod
    def crds() -> list[Path]:
        return sorted((REPO / "manifests" / "crds").glob("*.yaml"))

    @staticmethod
    def settings() -> str:
        return (f"`rollouts controller -n <ns> --workers {WORKERS} --no-leader-elect "
                "--controllers rollouts,analysis` (analysis only for the AnalysisRun row; log "
                "level at its default, INFO)")


def argo_qps() -> tuple[str, str]:
    """Argo's client-side rate limit: lifted by default (ours has none), so both are
    limited by the same API server; COMPARE_ARGO_QPS=40 gives Argo's shipped 40/80."""
    qps = os.environ.get("COMPARE_ARGO_QPS", "1000")
    return qps, str(int(float(qps) * 2))


class Argo(Controller):
    name = "Argo Rollouts"
    metric = ARGO_METRIC

    def argv(self) -> list[str]:
        qps, burst = argo_qps()
        argv = [str(ARGO_BINARY), f"--kubeconfig={self.cluster.kubeconfig}", "--namespaced",
                f"--namespace={self.namespace}", "--leader-elect=false",
                # It listens on 0.0.0.0:<port> (no address flag); -1 keeps healthz off.
                f"--metricsPort={self.port}", "--healthzPort=-1",  # log level: its default
                f"--rollout-threads={self.workers}", f"--analysis-threads={self.workers}",
                f"--experiment-threads={self.workers}", f"--qps={qps}", f"--burst={burst}"]
        if self.controllers == "analysis":
            argv.append("--controllers=analysis")
        return argv

    def env(self) -> dict[str, str]:
        return {**os.environ, "POD_NAMESPACE": self.namespace}  # its notification config

    @staticmethod
    def crds() -> list[Path]:
        return sorted(p for p in argo_crd_dir().glob("*.yaml") if p.name != "kustomization.yaml")

    @staticmethod
    def settings() -> str:
        qps, burst = argo_qps()
        return (f"`rollouts-controller {ARGO_VERSION} --namespaced --rollout-threads {WORKERS} "
                f"--analysis-threads {WORKERS} --experiment-threads {WORKERS} --qps {qps} "
                f"--burst {burst} --leader-elect=false` (`--controllers=analysis` for the "
                "AnalysisRun row; other thread pools and the log level (info) at their "
                "defaults)")


def argo_missing() -> str | None:
    if not ARGO_BINARY.is_file():
        return (f"bench-compare: Argo Rollouts {ARGO_VERSION} is not built at {ARGO_BINARY}; "
                "run `make argo-rollouts`")
    return None


CONTROLLERS: dict[str, type[Controller]] = {"ours": Ours, "argo": Argo}
