"""Clusters registered the way Argo CD registers them: one Secret per cluster.

A Secret labelled `argocd.argoproj.io/secret-type: cluster`, in the controller's
namespace, holds

    name: staging                              # destination.name; default: the server
    server: https://staging.example.com:6443   # destination.server
    namespaces: team-a,team-b                  # optional: only these namespaces
    clusterResources: "true"                   # with namespaces: cluster-scoped kinds too
    project: team-a                            # optional: kept, restricts nothing (*)
    config: |                                  # how to talk to it (JSON)
      {"bearerToken": "...",
       "tlsClientConfig": {"insecure": false, "caData": "<base64 PEM>",
                           "certData": "...", "keyData": "...", "serverName": "..."}}

(*) Argo CD enforces `project` only for an AppProject with
`permitOnlyProjectScopedClusters`, which rollouts does not implement (it warns about the
field): which clusters a project's apps reach is its `spec.destinations`.

The Secret's own labels and annotations are the cluster's (the ApplicationSet `clusters`
generator selects on them). The local cluster is always known as `in-cluster` at
`https://kubernetes.default.svc`, unless a Secret registers that server itself (Argo CD
does the same). Reading a Secret never raises: a broken one becomes a `ClusterProblem`
naming the Secret and the field, so one team's typo cannot hide the other clusters.
Pure; neighbours: the Application controller resolves destinations with it, the
ApplicationSet `clusters` generator lists it, `rollouts cluster` writes these Secrets.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollouts.api.defaults import IN_CLUSTER_NAME, IN_CLUSTER_SERVER
from rollouts.api.secret_data import SECRET_TYPE_LABEL, secret_data

__all__ = [
    "CLUSTER_SECRET_SELECTOR",
    "LOCAL_NAME",
    "LOCAL_SERVER",
    "SECRET_TYPE_LABEL",
    "Cluster",
    "ClusterProblem",
    "TLSConfig",
    "local_cluster",
    "read_clusters",
]

CLUSTER_SECRET_SELECTOR = f"{SECRET_TYPE_LABEL}=cluster"
LOCAL_NAME, LOCAL_SERVER = IN_CLUSTER_NAME, IN_CLUSTER_SERVER  # Argo CD's, under our names


@dataclass(frozen=True)
class TLSConfig:
    """`config.tlsClientConfig`; the PEM fields are decoded bytes, kept out of repr."""

    insecure: bool = False
    server_name: str | None = None
    ca_data: bytes | None = field(default=None, repr=False)
    cert_data: bytes | None = field(default=None, repr=False)
    key_data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Cluster:
    """One destination cluster; `local` is the controller's own cluster."""

    name: str
    server: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    namespaces: tuple[str, ...] = ()
    cluster_resources: bool = False
    project: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    tls: TLSConfig = TLSConfig()
    secret: str | None = None
    resource_version: str | None = None
    """The Secret's version: a client made for an older one is made anew."""
    local: bool = False


@dataclass(frozen=True)
class ClusterProblem:
    """A cluster Secret that could not be read; `message` is one line for the user."""

    secret: str
    message: str


def local_cluster() -> Cluster:
    return Cluster(name=LOCAL_NAME, server=LOCAL_SERVER, local=True)


def read_clusters(secrets: Iterable[Mapping[str, Any]]) -> tuple[list[Cluster],
                                                                 list[ClusterProblem]]:
    """The registered clusters, the local one first unless a Secret registers its server,
    and the Secrets that could not be read. Names and servers are unique: a later
    duplicate (by Secret name order) is a problem, not a silent override."""
    clusters: list[Cluster] = []
    problems: list[ClusterProblem] = []
    for secret in sorted(secrets, key=_secret_name):
        try:
            clusters.append(_cluster(secret))
        except ValueError as exc:
            problems.append(ClusterProblem(_secret_name(secret), str(exc)))
    if not any(c.server == LOCAL_SERVER for c in clusters):
        clusters.insert(0, local_cluster())
    unique: list[Cluster] = []
    for cluster in clusters:
        clash = next((c for c in unique if c.name == cluster.name or c.server == cluster.server),
                     None)
        if clash is None:
            unique.append(cluster)
            continue
        problems.append(ClusterProblem(
            cluster.secret or cluster.name,
            f"cluster Secret {cluster.secret}: name {cluster.name!r} or server "
            f"{cluster.server!r} is already registered by "
            f"{clash.secret or 'the local cluster'}; give each cluster its own name and server"))
    return unique, problems


def _secret_name(secret: Mapping[str, Any]) -> str:
    return str((secret.get("metadata") or {}).get("name") or "")


def _cluster(secret: Mapping[str, Any]) -> Cluster:
    name = _secret_name(secret)
    data = _data(secret, name)
    server = data.get("server", "").strip().rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ValueError(f"cluster Secret {name}: data.server {server!r} is not an http(s) "
                         "URL; set it to the API server, e.g. https://10.0.0.1:6443")
    config = _config(data.get("config", ""), name)
    token = config.get("bearerToken")
    if token is not None and not isinstance(token, str):
        raise ValueError(f"cluster Secret {name}: config.bearerToken must be a string")
    meta = secret.get("metadata") or {}
    namespaces = tuple(n.strip() for n in data.get("namespaces", "").split(",") if n.strip())
    return Cluster(
        name=data.get("name", "").strip() or server,
        server=server,
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        namespaces=namespaces,
        cluster_resources=data.get("clusterResources", "").strip().lower() == "true",
        project=data.get("project", "").strip() or None,
        bearer_token=token or None,
        tls=_tls(config.get("tlsClientConfig"), name),
        secret=name,
        resource_version=str(meta.get("resourceVersion") or "") or None,
        local=server == LOCAL_SERVER,
    )


def _data(secret: Mapping[str, Any], name: str) -> dict[str, str]:
    read = secret_data(secret)
    if read.bad:
        raise ValueError(f"cluster Secret {name}: data.{read.bad[0]} is not base64 of UTF-8 "
                         "text; re-create the Secret with kubectl")
    return read.values


def _config(text: str, name: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError:
        raise ValueError(f"cluster Secret {name}: data.config is not JSON; write it as "
                         '{"bearerToken": "...", "tlsClientConfig": {...}}') from None
    if not isinstance(config, dict):
        raise ValueError(f"cluster Secret {name}: data.config must be a JSON object")
    return config


def _tls(raw: object, name: str) -> TLSConfig:
    if raw is None:
        return TLSConfig()
    if not isinstance(raw, dict):
        raise ValueError(f"cluster Secret {name}: config.tlsClientConfig must be an object")

    def pem(key: str) -> bytes | None:
        value = raw.get(key)
        if value in (None, ""):
            return None
        try:
            return base64.b64decode(str(value), validate=True)
        except binascii.Error:
            raise ValueError(f"cluster Secret {name}: config.tlsClientConfig.{key} is not "
                             "base64 (encode the PEM file with base64 -w0)") from None

    server_name = raw.get("serverName")
    return TLSConfig(insecure=raw.get("insecure") is True,
                     server_name=str(server_name) if server_name else None,
                     ca_data=pem("caData"), cert_data=pem("certData"), key_data=pem("keyData"))
