"""`rollouts controller`: run the manager with the chosen controllers until interrupted."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click
from prometheus_client import REGISTRY

from rollouts.cli.errors import UsageProblem
from rollouts.controller import RolloutController
from rollouts.kube import KubeClient, KubeError, LeaderElector
from rollouts.kube.leader import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RENEW_SECONDS,
    DEFAULT_RETRY_SECONDS,
    lease_name,
    new_identity,
)
from rollouts.kube.shared import SharedInformers
from rollouts.metrics.kube_requests import KubeRequestsCollector
from rollouts.metrics.wiring import instrument
from rollouts.runtime import (
    CacheSyncTimeout,
    Controller,
    LeaderElectionLost,
    Manager,
    logging_setup,
)

AVAILABLE = ("rollouts", "analysis", "experiments", "reconciler", "applicationsets",
             "notifications")
DEFAULT_CONTROLLERS = "rollouts,analysis,experiments"
PLANNED: tuple[str, ...] = ()

LOST_GRACE_SECONDS = 2.0
"""After losing the lease, the process exits (code 1) this long after, busy or not."""
SHUTDOWN_SECONDS = 10.0
"""On SIGTERM/SIGINT, how long in-flight reconciles may finish before the process exits
(the lease is released only if they all did)."""
EXIT_LEADERSHIP_LOST = 1


@dataclass(frozen=True)
class ReconcilerOptions:
    """Options of the Application controller (`reconciler`)."""

    resync: float = 120.0
    webhook_port: int | None = None
    webhook_secret: str | None = None
    webhook_host: str = "127.0.0.1"
    repo_cache: Path | None = None
    control_namespace: str | None = None
    application_namespaces: tuple[str, ...] = ()
    allow_local_repos: bool = False
    allow_remote_bases: bool = False
    deletion_timeout: float = 300.0


def _globs(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(g.strip() for value in values for g in value.split(",") if g.strip())


def _client(kubeconfig: str | None, context: str | None, in_cluster: bool) -> KubeClient:
    try:
        if in_cluster:
            return KubeClient.in_cluster()
        return KubeClient.from_kubeconfig(kubeconfig, context)
    except KubeError as problem:
        raise UsageProblem(str(problem)) from None


def _controllers(names: str, client: KubeClient, namespace: str | None,
                 prometheus: str | None,
                 reconciler: ReconcilerOptions | None = None,
                 deny_networks: tuple[str, ...] | None = None,
                 instance_id: str = "") -> list[Controller]:
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    controllers: list[Controller] = []
    # One cache per (kind, namespace, selector) for all the controllers of this process.
    informers = SharedInformers(client)
    for name in chosen:
        if name == "rollouts":
            controllers.append(RolloutController(client, namespace=namespace,
                                                 instance_id=instance_id, informers=informers))
        elif name == "analysis":
            # Imported here: `analysis` is optional, and only this command wires it in.
            from analysis.controller import AnalysisRunController
            from analysis.providers import default_providers

            try:
                providers = default_providers(client, prometheus_address=prometheus,
                                              deny_networks=deny_networks)
            except ValueError as problem:
                raise UsageProblem(f"--analysis-deny-networks: {problem}") from None
            controllers.append(AnalysisRunController(client, providers, namespace=namespace,
                                                     instance_id=instance_id,
                                                     informers=informers))
        elif name == "experiments":
            from rollouts.experiments.controller import ExperimentController

            controllers.append(ExperimentController(client, namespace=namespace,
                                                    instance_id=instance_id,
                                                    informers=informers))
        elif name == "reconciler":
            from reconciler.controller import ApplicationController
            from reconciler.render import RenderPolicy

            options = reconciler or ReconcilerOptions()
            controllers.append(ApplicationController(
                client, namespace=namespace, control_namespace=options.control_namespace,
                application_namespaces=options.application_namespaces,
                allow_local_repos=options.allow_local_repos,
                render_policy=RenderPolicy(allow_remote_bases=options.allow_remote_bases),
                repo_cache=options.repo_cache,
                resync=options.resync, webhook_port=options.webhook_port,
                webhook_secret=options.webhook_secret, webhook_host=options.webhook_host,
                deletion_timeout=timedelta(seconds=options.deletion_timeout),
                informers=informers))
        elif name == "notifications":
            from analysis.providers.egress import EgressPolicy
            from rollouts.notifications.controller import NotificationController

            try:
                egress = EgressPolicy.from_networks(deny_networks)
            except ValueError as problem:
                raise UsageProblem(f"--analysis-deny-networks: {problem}") from None
            options = reconciler or ReconcilerOptions()
            controllers.append(NotificationController(
                client, namespace=namespace, control_namespace=options.control_namespace,
                egress=egress, instance_id=instance_id, informers=informers))
        elif name == "applicationsets":
            from reconciler.appset import ApplicationSetController

            options = reconciler or ReconcilerOptions()
            controllers.append(ApplicationSetController(
                client, namespace=namespace, control_namespace=options.control_namespace,
                application_namespaces=options.application_namespaces,
                repo_cache=options.repo_cache, allow_local_repos=options.allow_local_repos,
                informers=informers))
        elif name in PLANNED:
            raise UsageProblem(f"--controllers: '{name}' is not implemented yet; "
                               f"available: {', '.join(AVAILABLE)}")
        else:
            raise UsageProblem(f"--controllers: unknown controller '{name}'; "
                               f"choose from {', '.join(AVAILABLE + PLANNED)}")
    if not controllers:
        raise UsageProblem("--controllers: name at least one controller, e.g. rollouts")
    _share_git_cache(controllers)
    return controllers


def _share_git_cache(controllers: list[Controller]) -> None:
    """One `GitSource` per process: the ApplicationSet controller reads Git through the
    reconciler's (its locks guard the clones both would otherwise fetch at once)."""
    reconciler = next((c for c in controllers if c.name == "reconciler"), None)
    for controller in controllers:
        if reconciler is not None and controller.name == "applicationsets":
            controller.use_git_source(reconciler.sources.source)  # type: ignore[attr-defined]


@click.command("controller")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file (default $KUBECONFIG).")
@click.option("--context", help="Kubeconfig context to use.")
@click.option("--in-cluster", is_flag=True, help="Use the pod's service account.")
@click.option("-n", "--namespace", default=None,
              help="Watch only this namespace (default: all namespaces).")
@click.option("--controllers", "names", default=DEFAULT_CONTROLLERS, show_default=True,
              help="Comma-separated controllers to run (rollouts, analysis, experiments, "
                   "reconciler, applicationsets, notifications).")
@click.option("--prometheus", envvar="ARGO_ROLLOUTS_PROMETHEUS_ADDRESS", default=None,
              help="Prometheus address for metrics that name none.")
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True,
              help="Take a Lease so only one replica acts at a time.")
@click.option("--lease-namespace", default=None,
              help="Namespace of the leader Lease (default: --namespace, else 'default').")
@click.option("--lease-name", "lease_name_", default=None,
              help="Name of the leader Lease (default: rollouts-controller-<controllers "
                   "sorted, joined by '-'>[-<instance id>]).")
@click.option("--instance-id", default="", envvar="ROLLOUTS_INSTANCE_ID",
              help="Install name, as Argo Rollouts' --instance-id: this install serves only "
                   "Rollouts, Experiments and AnalysisRuns labelled "
                   "argo-rollouts.argoproj.io/controller-instance-id=<id> (without it: only "
                   "those without the label), and it is part of the default Lease name.")
@click.option("--lease-duration", default=DEFAULT_LEASE_SECONDS, show_default=True,
              type=click.FloatRange(min=1), help="Seconds a standby waits, after it last saw "
              "the Lease change, before taking it.")
@click.option("--renew-deadline", default=DEFAULT_RENEW_SECONDS, show_default=True,
              type=click.FloatRange(min=0.1), help="Seconds the leader keeps acting without "
              "a successful renewal (less than --lease-duration).")
@click.option("--retry-period", default=DEFAULT_RETRY_SECONDS, show_default=True,
              type=click.FloatRange(min=0.05), help="Seconds between attempts to acquire or "
              "renew the Lease (less than --renew-deadline).")
@click.option("--port", default=8090, show_default=True,
              help="Port of /metrics, /healthz and /readyz (0 picks a free one).")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--workers", default=10, show_default=True,
              help="Workers per controller: objects reconciled at once (Argo Rollouts' "
                   "--rollout-threads is 10 too; the reconciler syncs that many "
                   "Applications at once).")
@click.option("--app-resync", default=120.0, show_default=True, type=click.FloatRange(min=0.5),
              help="reconciler: seconds between Git polls of each Application (+ up to 10% "
                   "jitter).")
@click.option("--app-deletion-timeout", default=300.0, show_default=True,
              type=click.FloatRange(min=1.0),
              help="reconciler: seconds a deleted Application with the resources finalizer "
                   "waits for its resources to go before the finalizer is removed anyway.")
@click.option("--webhook-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="reconciler: port of the Git webhook (POST /api/webhook); 0 = no webhook. "
                   "Needs --webhook-secret.")
@click.option("--webhook-bind", default="127.0.0.1", show_default=True,
              help="reconciler: address the Git webhook listens on (apart from --bind).")
@click.option("--webhook-secret", envvar="ROLLOUTS_WEBHOOK_SECRET", default=None,
              show_envvar=True,
              help="reconciler: shared secret of GitHub/GitLab webhooks, required with "
                   "--webhook-port (unsigned pushes are "
                   "refused with 401 when set).")
@click.option("--repo-cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="reconciler, applicationsets: directory of Git clones and checkouts "
                   "(default ~/.cache/rollouts/git).")
@click.option("--control-namespace", envvar="POD_NAMESPACE", default=None,
              help="reconciler: namespace of the controller's own Applications, AppProjects and "
                   "repository Secrets; notifications: of its ConfigMaps and Secrets "
                   "(default: --namespace, else $POD_NAMESPACE, else 'rollouts').")
@click.option("--application-namespaces", "application_namespaces", multiple=True,
              metavar="GLOB",
              help="reconciler, applicationsets: also serve Applications (and "
                   "ApplicationSets) in namespaces matching GLOB (repeatable or "
                   "comma-separated; their project must list the namespace in "
                   "sourceNamespaces). Default: only the control namespace.")
@click.option("--allow-local-repos", is_flag=True,
              help="reconciler, applicationsets: permit file:// and local-path repoURLs (off: "
                   "an Application or git generator could read the controller's disk, other "
                   "tenants' clones included).")
@click.option("--kustomize-remote-bases", "allow_remote_bases", is_flag=True,
              help="reconciler: let kustomize fetch remote bases (https/ssh); off by default, "
                   "as they reach any host the controller can.")
@click.option("--analysis-deny-networks", "deny_networks", default=None, metavar="CIDRS",
              help="analysis: comma-separated networks the web and prometheus providers (and "
                   "notifications: webhook and Slack deliveries) may not reach (default: "
                   "169.254.0.0/16,fe80::/10, cloud metadata; '' denies nothing).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--log-level", default="INFO", show_default=True)
def controller(
    kubeconfig: str | None, context: str | None, in_cluster: bool, namespace: str | None,
    names: str, prometheus: str | None, leader_elect: bool, lease_namespace: str | None,
    lease_name_: str | None, instance_id: str, lease_duration: float, renew_deadline: float,
    retry_period: float,
    port: int, bind: str, workers: int, app_resync: float, app_deletion_timeout: float,
    webhook_port: int, webhook_bind: str,
    webhook_secret: str | None, repo_cache: Path | None, control_namespace: str | None,
    application_namespaces: tuple[str, ...], allow_local_repos: bool, allow_remote_bases: bool,
    deny_networks: str | None, log_format: str, log_level: str,
) -> None:
    """Run the controllers until interrupted (SIGINT/SIGTERM)."""
    logging_setup("json" if log_format == "json" else "text", log_level.upper())
    client = _client(kubeconfig, context, in_cluster)
    if webhook_port and not webhook_secret and "reconciler" in names:
        raise UsageProblem("--webhook-port needs a shared secret: set --webhook-secret (or "
                           "ROLLOUTS_WEBHOOK_SECRET) to the secret configured in GitHub/GitLab")
    reconciler = ReconcilerOptions(resync=app_resync, webhook_port=webhook_port or None,
                                   webhook_secret=webhook_secret or None,
                                   webhook_host=webhook_bind,
                                   repo_cache=repo_cache,
                                   control_namespace=namespace or control_namespace,
                                   application_namespaces=_globs(application_namespaces),
                                   allow_local_repos=allow_local_repos,
                                   allow_remote_bases=allow_remote_bases,
                                   deletion_timeout=app_deletion_timeout)
    try:
        lease_name(names.split(","), instance_id)  # the instance id is a DNS label
    except ValueError as problem:
        raise UsageProblem(f"--instance-id: {problem}") from None
    elector = None
    log = logging.getLogger(__name__)
    if leader_elect:
        try:
            name = lease_name_ or lease_name(names.split(","), instance_id)
            elector = LeaderElector(client, lease_namespace or namespace or "default", name,
                                    new_identity(), lease_seconds=lease_duration,
                                    renew_seconds=renew_deadline, retry_seconds=retry_period)
        except ValueError as problem:
            raise UsageProblem(f"leader election: {problem}; check --instance-id, "
                               "--lease-duration, --renew-deadline, --retry-period") from None
        log.info("leader election on Lease %s/%s as %s", elector.namespace, elector.name,
                 elector.identity)

    # Under leader election the controllers write through a fenced view of the client:
    # from the renew deadline on, no write of theirs leaves the process.
    acting = client.fenced(elector.is_leader) if elector is not None else client
    try:
        denied = None if deny_networks is None else tuple(
            n.strip() for n in deny_networks.split(",") if n.strip())
        controllers = _controllers(names, acting, namespace, prometheus, reconciler, denied,
                                   instance_id)
    except OSError as problem:
        raise UsageProblem(f"cannot listen on {webhook_bind}:{webhook_port} for the Git webhook "
                           f"({problem.strerror}); choose another --webhook-port") from None

    def _on_lost() -> None:
        # Like controller-runtime: a deposed leader must not finish its in-flight writes.
        log.error("lost the leader lease: exiting in %g s", LOST_GRACE_SECONDS)
        timer = threading.Timer(LOST_GRACE_SECONDS, _exit_now, args=(EXIT_LEADERSHIP_LOST,))
        timer.daemon = True
        timer.start()
    REGISTRY.register(KubeRequestsCollector(client.requests_by_verb))
    controllers = instrument(controllers, REGISTRY)  # collectors, hooks, reconcile timing
    try:
        manager = Manager(controllers, workers=workers, leader_elector=elector, host=bind,
                          port=port, on_lost=_on_lost, shutdown_timeout=SHUTDOWN_SECONDS)
    except OSError as problem:
        raise UsageProblem(f"cannot listen on {bind}:{port} ({problem.strerror}); "
                           "choose another --port") from None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    logging.getLogger(__name__).info(
        "controllers %s on %s, serving /metrics on %s:%d", names, client.host, bind,
        manager.port)
    try:
        manager.run(stop)
    except LeaderElectionLost as problem:
        log.error("%s", problem)
        _exit_now(EXIT_LEADERSHIP_LOST)
    except CacheSyncTimeout as problem:
        raise UsageProblem(f"{problem}; is the API server reachable and are the CRDs "
                           "installed (kubectl apply -k manifests)?") from None


def _exit_now(code: int) -> None:
    """End the process at once, busy worker threads and all (they must not write on)."""
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)
