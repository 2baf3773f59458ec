"""Cluster Secrets as Argo CD writes them, read into the destination registry."""

from __future__ import annotations

import base64
import json
from typing import Any

from reconciler.clusters import LOCAL_NAME, LOCAL_SERVER, read_clusters


def _secret(secret_name: str, labels: dict[str, str] | None = None,
            **data: str) -> dict[str, Any]:
    labels = {"argocd.argoproj.io/secret-type": "cluster", **(labels or {})}
    return {"metadata": {"name": secret_name, "labels": labels},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_without_secrets_only_the_local_cluster_is_known() -> None:
    clusters, problems = read_clusters([])
    assert [(c.name, c.server, c.local) for c in clusters] == [(LOCAL_NAME, LOCAL_SERVER, True)]
    assert problems == []


def test_a_registered_cluster_keeps_its_labels_token_and_tls() -> None:
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode()
    config = json.dumps({"bearerToken": "tok", "tlsClientConfig": {"caData": ca,
                                                                   "serverName": "api"}})
    secret = _secret("c-staging", {"env": "staging"}, name="staging",
                     server="https://10.0.0.2:6443/", config=config, namespaces="a, b")
    clusters, problems = read_clusters([secret])
    assert problems == []
    staging = clusters[1]
    assert (staging.name, staging.server, staging.namespaces) == (
        "staging", "https://10.0.0.2:6443", ("a", "b"))
    assert staging.labels["env"] == "staging" and staging.bearer_token == "tok"
    assert staging.tls.ca_data == b"-----BEGIN CERTIFICATE-----"
    assert staging.tls.server_name == "api" and not staging.local
    assert "tok" not in repr(staging)


def test_a_secret_for_the_local_server_replaces_the_default_entry() -> None:
    clusters, _ = read_clusters([_secret("local", name="home", server=LOCAL_SERVER)])
    assert [(c.name, c.local) for c in clusters] == [("home", True)]


def test_broken_secrets_are_problems_naming_the_field_and_others_still_load() -> None:
    clusters, problems = read_clusters([
        _secret("a-bad-server", server="10.0.0.3"),
        _secret("b-bad-config", server="https://10.0.0.4", config="{not json"),
        _secret("c-fine", name="fine", server="https://10.0.0.5"),
        _secret("d-duplicate", name="fine", server="https://10.0.0.6"),
    ])
    assert [c.name for c in clusters] == [LOCAL_NAME, "fine"]
    messages = {p.secret: p.message for p in problems}
    assert "data.server" in messages["a-bad-server"]
    assert "data.config is not JSON" in messages["b-bad-config"]
    assert "already registered by c-fine" in messages["d-duplicate"]
    assert all("\n" not in m for m in messages.values())
