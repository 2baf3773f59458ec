"""`rollouts cluster add|list|rm`: register other clusters as Application destinations.

`add CONTEXT` does what `argocd cluster add` does: on the cluster of kubeconfig context
CONTEXT it applies a ServiceAccount `argocd-manager` in `kube-system`, the ClusterRole
`argocd-manager-role` (every verb on every resource) and its ClusterRoleBinding, and a
long-lived token Secret for the account (`argocd-manager-long-lived-token`, filled in by
the cluster's token controller); then, in the control namespace of the current (or
`--context`) cluster, the cluster Secret labelled `argocd.argoproj.io/secret-type:
cluster` with the name (default: CONTEXT), the server, and a `config` holding that token
and the context's certificate authority. The names are Argo CD's, so a cluster added by
either tool serves both. Nothing is written until the context is known and its server
answers; an existing registration is replaced only with `--upsert`.

`list` shows every registered cluster (the local `in-cluster` too) with its server,
version and whether it is reachable now; `rm NAME|SERVER` deletes the cluster Secret
(the account on the other cluster stays, as with Argo CD).

Like `proj`, `-n` is the control namespace (default: the kubeconfig context's).
Neighbours: `reconciler.clusters` (reads these Secrets; the controller resolves
destinations with it), `kubeopts`. The builders and the table are pure.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click

from reconciler.clusters import CLUSTER_SECRET_SELECTOR, SECRET_TYPE_LABEL, Cluster, read_clusters
from reconciler.clusters.connections import client_for
from rollouts.api.secret_data import secret_data
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options, kubeconfig_contexts
from rollouts.kube import (
    SECRET,
    SERVICE_ACCOUNT,
    KubeClient,
    KubeError,
    Request,
    Verb,
)

__all__ = ["ProbeResult", "cluster", "cluster_secret", "manager_objects", "render_list",
           "secret_name"]

Obj = dict[str, Any]
FIELD_MANAGER = "rollouts-cli"
MANAGER_ACCOUNT = "argocd-manager"
MANAGER_NAMESPACE = "kube-system"
MANAGER_ROLE = "argocd-manager-role"
MANAGER_BINDING = "argocd-manager-role-binding"
MANAGER_TOKEN = "argocd-manager-long-lived-token"
TOKEN_WAIT_SECONDS = 30.0
PROBE_TIMEOUT = 3.0
"""Seconds `list` waits for each cluster's /version."""


# -- pure builders ---------------------------------------------------------------------------


def secret_name(server: str) -> str:
    """`cluster-<host>-<FNV-32a of the URL>`, the name `argocd cluster add` gives the
    same server's Secret (an IPv6 host has its colons as dashes), so registering a
    cluster both ways finds one Secret."""
    host = (urlsplit(server).hostname or "").lower()
    with contextlib.suppress(ValueError):  # an IP address: its canonical form
        host = str(ipaddress.ip_address(host))
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in host)[:200]
    return f"cluster-{host}-{_fnv32a(server.encode())}"


def _fnv32a(data: bytes) -> int:
    digest = 0x811C9DC5
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return digest


def manager_objects() -> list[tuple[str, Obj]]:
    """(apiVersion/kind, body) the target cluster gets: account, role, binding, token."""
    labels = {"app.kubernetes.io/managed-by": "rollouts"}
    return [
        ("v1/ServiceAccount", {"metadata": {"name": MANAGER_ACCOUNT,
                                            "namespace": MANAGER_NAMESPACE,
                                            "labels": labels}}),
        ("rbac.authorization.k8s.io/v1/ClusterRole", {
            "metadata": {"name": MANAGER_ROLE, "labels": labels},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}]}),
        ("rbac.authorization.k8s.io/v1/ClusterRoleBinding", {
            "metadata": {"name": MANAGER_BINDING, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": MANAGER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": MANAGER_ACCOUNT,
                          "namespace": MANAGER_NAMESPACE}]}),
        ("v1/Secret", {
            "metadata": {"name": MANAGER_TOKEN, "namespace": MANAGER_NAMESPACE,
                         "labels": labels,
                         "annotations": {"kubernetes.io/service-account.name":
                                         MANAGER_ACCOUNT}},
            "type": "kubernetes.io/service-account-token"}),
    ]


def cluster_secret(*, name: str, server: str, token: str, ca_data: bytes | None,
                   insecure: bool, namespace: str) -> Obj:
    """The cluster Secret `reconciler.clusters.read_clusters` reads (and Argo CD writes)."""
    tls: Obj = {"insecure": insecure}
    if ca_data:
        tls["caData"] = base64.b64encode(ca_data).decode()
    config = {"bearerToken": token, "tlsClientConfig": tls}
    data = {"name": name, "server": server, "config": json.dumps(config)}
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": secret_name(server), "namespace": namespace,
                     "labels": {SECRET_TYPE_LABEL: "cluster"},
                     "annotations": {"managed-by": "argocd.argoproj.io"}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@dataclass(frozen=True)
class ProbeResult:
    """What `list` learned of one cluster."""

    version: str
    message: str

    @property
    def reachable(self) -> bool:
        return not self.message


def render_list(clusters: Sequence[Cluster], probes: Sequence[ProbeResult]) -> str:
    """SERVER NAME VERSION STATUS MESSAGE, one row per cluster (Argo CD's columns)."""
    rows = [("SERVER", "NAME", "VERSION", "STATUS", "MESSAGE")]
    for found, probe in zip(clusters, probes, strict=True):
        rows.append((found.server, found.name, probe.version or "-",
                     "Successful" if probe.reachable else "Failed", probe.message or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
                     for row in rows)


# -- I/O -----------------------------------------------------------------------------------------


def _target(kube: KubeOptions, context: str) -> KubeClient:
    known = kubeconfig_contexts(kube.kubeconfig)
    if context not in known:
        listed = ", ".join(known) or "none"
        raise UsageProblem(f"context '{context}' is not in the kubeconfig (contexts: {listed}); "
                           "pick one of `kubectl config get-contexts` or pass --kubeconfig")
    try:
        return KubeClient.from_kubeconfig(kube.kubeconfig, context, field_manager=FIELD_MANAGER)
    except KubeError as error:
        raise UsageProblem(error.message) from None


def _version(client: KubeClient, timeout: float) -> str:
    answer = client.request(Request(Verb.GET, "GET", "/version"), timeout=timeout)
    return str((answer or {}).get("gitVersion") or "") if isinstance(answer, dict) else ""


def _probe(client: KubeClient) -> ProbeResult:
    try:
        return ProbeResult(_version(client, PROBE_TIMEOUT), "")
    except KubeError as error:
        return ProbeResult("", error.message.splitlines()[0][:200])


def _wait_for_token(client: KubeClient) -> str:
    deadline = time.monotonic() + TOKEN_WAIT_SECONDS
    while True:
        secret = client.get(SECRET, MANAGER_NAMESPACE, MANAGER_TOKEN)
        read = secret_data(secret)
        if "token" in read.bad:
            raise UsageProblem(
                f"the token in Secret {MANAGER_NAMESPACE}/{MANAGER_TOKEN} is not base64 of "
                "text; delete that Secret and run `rollouts cluster add` again")
        token = read.values.get("token")
        if token:
            return token
        if time.monotonic() > deadline:
            raise UsageProblem(
                f"the token of ServiceAccount {MANAGER_NAMESPACE}/{MANAGER_ACCOUNT} was not "
                f"filled in within {TOKEN_WAIT_SECONDS:.0f}s; is the cluster's "
                "kube-controller-manager running (its token controller writes it)?")
        time.sleep(0.25)


def _registered(session: Session) -> list[Obj]:
    with session.calling("list", "cluster secrets"):
        return session.client.list(SECRET, session.namespace,
                                   label_selector=CLUSTER_SECRET_SELECTOR).items


@click.group("cluster")
def cluster() -> None:
    """Register other clusters as Application destinations: add, list, rm."""


@cluster.command("add")
@click.argument("target_context", metavar="CONTEXT")  # --context is the control plane's
@click.option("--name", default=None, help="The cluster's name (default: CONTEXT).")
@click.option("--upsert", is_flag=True, help="Replace an existing registration.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before creating the account.")
@kube_options
def cluster_add(target_context: str, name: str | None, upsert: bool, yes: bool,
                kube: KubeOptions) -> None:
    """Register the cluster of kubeconfig context CONTEXT as a destination.

    \b
    On that cluster: ServiceAccount kube-system/argocd-manager, bound to a ClusterRole
    with every verb, and its long-lived token (Argo CD's names). Then, in the control
    namespace (-n) of the current (or --context) cluster: the Secret labelled
    argocd.argoproj.io/secret-type=cluster with the name, the server, the token and
    the context's certificate authority.
    """
    context = target_context
    name = name or context
    target = _target(kube, context)
    try:
        _version(target, PROBE_TIMEOUT * 2)
    except KubeError as error:
        reason = error.message.splitlines()[0].split(f"{target.host}: ", 1)[-1]
        raise UsageProblem(f"cannot reach the API server of context '{context}' at "
                           f"{target.host}: {reason}; is the cluster up?") from None
    session = kube.session()
    server = target.host.rstrip("/")
    existing = read_clusters(_registered(session))[0]
    taken = next((c for c in existing if c.name == name and c.server != server), None)
    if taken is not None:
        raise UsageProblem(f"name '{name}' belongs to cluster {taken.server}; choose another "
                           "--name, or remove that one first (`rollouts cluster rm`)")
    same = next((c for c in existing if c.server == server and c.secret is not None), None)
    if same is not None and not upsert:
        raise UsageProblem(f"cluster {server} is already registered as '{same.name}' (Secret "
                           f"{same.secret}); pass --upsert to replace it")
    if not yes:
        click.confirm(f"This creates ServiceAccount {MANAGER_NAMESPACE}/{MANAGER_ACCOUNT} "
                      f"with full cluster privileges on context '{context}'. Continue?",
                      abort=True)
    target_session = Session(target, MANAGER_NAMESPACE)
    for api_version_kind, body in manager_objects():
        api_version, _, kind_name = api_version_kind.rpartition("/")
        with target_session.calling("apply", kind_name, body["metadata"]["name"],
                                    namespace=body["metadata"].get("namespace")):
            kind = {"ServiceAccount": SERVICE_ACCOUNT, "Secret": SECRET}.get(kind_name) or \
                target.discover_kind(api_version, kind_name)
            target.apply(kind, body["metadata"].get("namespace"), body, FIELD_MANAGER)
    with target_session.calling("get", "service account token", MANAGER_TOKEN):
        token = _wait_for_token(target)
    secret = cluster_secret(name=name, server=server, token=token,
                            ca_data=target.certificate_authority(),
                            insecure=not target.verifies_tls, namespace=session.namespace)
    if same is not None and same.secret:  # replace it in place, whoever named it
        secret["metadata"]["name"] = same.secret
    with session.calling("apply", "cluster secret", secret["metadata"]["name"]):
        session.client.apply(SECRET, session.namespace, secret, FIELD_MANAGER)
    click.echo(f"Cluster '{server}' added as '{name}' (Secret "
               f"{session.namespace}/{secret['metadata']['name']})")


@cluster.command("list")
@kube_options
def cluster_list(kube: KubeOptions) -> None:
    """The registered clusters, their server and whether they answer now."""
    session = kube.session()
    clusters, problems = read_clusters(_registered(session))

    def probe(found: Cluster) -> ProbeResult:
        if found.local:  # the control plane's own cluster, as this kubeconfig reaches it
            return _probe(session.client)
        client = client_for(found, field_manager=FIELD_MANAGER)
        try:
            return _probe(client)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        probes = list(pool.map(probe, clusters))
    click.echo(render_list(clusters, probes))
    for problem in problems:
        click.echo(f"warning: {problem.message}", err=True)


@cluster.command("rm")
@click.argument("name_or_server")
@kube_options
def cluster_rm(name_or_server: str, kube: KubeOptions) -> None:
    """Remove a cluster's registration (its Secret), by name or server URL."""
    session = kube.session()
    clusters, _ = read_clusters(_registered(session))
    wanted = name_or_server.rstrip("/")
    found = next((c for c in clusters if wanted in (c.name, c.server)), None)
    if found is None:
        names = ", ".join(c.name for c in clusters)
        raise UsageProblem(f"no cluster '{name_or_server}' is registered in namespace "
                           f"'{session.namespace}' (clusters: {names}); see `rollouts "
                           "cluster list`")
    if found.secret is None:
        raise UsageProblem(f"'{found.name}' is the local cluster: it has no Secret to remove")
    with session.calling("delete", "cluster secret", found.secret):
        session.client.delete(SECRET, session.namespace, found.secret)  # gone already: fine
    click.echo(f"Cluster '{found.name}' ({found.server}) removed")
