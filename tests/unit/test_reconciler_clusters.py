"""Cluster Secrets as Argo CD writes them, read into the destination registry; which
cluster a destination names; a connection per cluster Secret."""

from __future__ import annotations

import base64
import gc
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.clusters import (
    LOCAL_NAME,
    LOCAL_SERVER,
    Cluster,
    DestinationError,
    read_clusters,
    resolve_destination,
)
from reconciler.clusters.connections import ClusterConnections, client_for
from rollouts.kube import KubeClient


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


# -- which cluster a destination names ------------------------------------------------------

def _registry() -> list[Cluster]:
    clusters, problems = read_clusters([
        _secret("c-staging", name="staging", server="https://10.0.0.2:6443"),
        _secret("c-team", name="team", server="https://10.0.0.3:6443", namespaces="a,b"),
    ])
    assert problems == []
    return clusters


class TestResolvingDestinations:
    def test_by_name_and_by_server_the_same_cluster(self) -> None:
        clusters = _registry()
        by_name = resolve_destination(clusters, server=None, name="staging")
        by_server = resolve_destination(clusters, server="https://10.0.0.2:6443/", name=None)
        assert isinstance(by_name, Cluster) and by_name == by_server
        assert by_name.secret == "c-staging"

    def test_the_local_cluster_answers_to_both_spellings(self) -> None:
        clusters = _registry()
        for server, name in ((LOCAL_SERVER, None), (None, LOCAL_NAME)):
            found = resolve_destination(clusters, server=server, name=name)
            assert isinstance(found, Cluster) and found.local

    def test_an_unknown_name_is_an_error_never_the_local_cluster(self) -> None:
        found = resolve_destination(_registry(), server=None, name="prod", namespace="x")
        assert isinstance(found, DestinationError)
        assert "there are no clusters with this name: prod" in found.message
        assert "rollouts cluster add" in found.message and "\n" not in found.message

    def test_an_unknown_server_is_an_error(self) -> None:
        found = resolve_destination(_registry(), server="https://10.9.9.9:6443", name=None)
        assert isinstance(found, DestinationError)
        assert "cluster 'https://10.9.9.9:6443' has not been configured" in found.message

    def test_both_or_neither_is_an_error(self) -> None:
        both = resolve_destination(_registry(), server="https://10.0.0.2:6443", name="staging")
        neither = resolve_destination(_registry(), server="", name=None)
        assert isinstance(both, DestinationError) and "both name and server" in both.message
        assert isinstance(neither, DestinationError) and "missing" in neither.message

    def test_a_cluster_limited_to_namespaces_refuses_others(self) -> None:
        clusters = _registry()
        assert isinstance(resolve_destination(clusters, server=None, name="team",
                                              namespace="a"), Cluster)
        refused = resolve_destination(clusters, server=None, name="team", namespace="c")
        assert isinstance(refused, DestinationError)
        assert "namespace 'c' is not managed by cluster 'team'" in refused.message

    def test_a_renamed_local_cluster_no_longer_answers_to_in_cluster(self) -> None:
        clusters, _ = read_clusters([_secret("local", name="home", server=LOCAL_SERVER)])
        assert isinstance(resolve_destination(clusters, server=None, name=LOCAL_NAME),
                          DestinationError)
        home = resolve_destination(clusters, server=None, name="home")
        assert isinstance(home, Cluster) and home.local

    def test_an_unreadable_secret_is_named_when_nothing_matches(self) -> None:
        clusters, problems = read_clusters([_secret("c-bad", server="not-a-url")])
        found = resolve_destination(clusters, server=None, name="bad", problems=problems)
        assert isinstance(found, DestinationError) and "cluster Secret c-bad" in found.message


# -- a connection per cluster Secret --------------------------------------------------------


class TestConnections:
    def _connections(self) -> tuple[ClusterConnections[str], list[str], list[str]]:
        built: list[str] = []
        closed: list[str] = []

        def build(cluster: Cluster) -> str:
            built.append(f"{cluster.name}@{cluster.resource_version}")
            return built[-1]

        return ClusterConnections(local="local", build=build, close=closed.append), built, \
            closed

    def test_made_once_per_secret_version_and_remade_when_it_changes(self) -> None:
        connections, built, closed = self._connections()
        first, _ = read_clusters([_versioned("c-a", "1", name="a", server="https://a:6443")])
        assert connections.get(first[1]) == connections.get(first[1]) == "a@1"
        second, _ = read_clusters([_versioned("c-a", "2", name="a", server="https://a:6443")])
        assert connections.get(second[1]) == "a@2"
        assert built == ["a@1", "a@2"] and closed == ["a@1"]

    def test_the_local_cluster_is_never_built_and_a_gone_secret_is_closed(self) -> None:
        connections, built, closed = self._connections()
        clusters, _ = read_clusters([_versioned("c-a", "1", name="a", server="https://a:6443"),
                                     _versioned("c-b", "1", name="b", server="https://b:6443")])
        assert connections.get(clusters[0]) == "local"
        connections.get(clusters[1])
        connections.get(clusters[2])
        connections.retain([clusters[0], clusters[2]])  # c-a was deleted
        assert closed == ["a@1"] and connections.connected() == ["b@1"]
        connections.stop()
        assert closed == ["a@1", "b@1"] and built == ["a@1", "b@1"]


def _versioned(secret_name: str, version: str, **data: str) -> dict[str, Any]:
    secret = _secret(secret_name, None, **data)
    secret["metadata"]["resourceVersion"] = version
    return secret


def test_client_for_a_cluster_uses_its_server_token_and_ca() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    config = json.dumps({"bearerToken": "tok", "tlsClientConfig": {
        "caData": base64.b64encode(ca).decode(), "certData": base64.b64encode(b"c").decode(),
        "keyData": base64.b64encode(b"k").decode()}})
    clusters, _ = read_clusters([_secret("c-s", name="s", server="https://10.0.0.2:6443",
                                         config=config)])
    client = client_for(clusters[1], field_manager="rollouts-reconciler")
    try:
        assert client.host == "https://10.0.0.2:6443"
        assert client.certificate_authority() == ca and client.verifies_tls
        assert client._auth_headers() == {"authorization": "Bearer tok"}
        scratch = Path(str(client._configuration.key_file)).parent
        assert (scratch / "client.key").read_bytes() == b"k"
        assert (scratch / "client.key").stat().st_mode & 0o077 == 0
    finally:
        client.close()
    assert not scratch.exists()  # the client certificate files go with the client


def test_a_client_never_closed_leaves_no_key_file_once_collected() -> None:
    client = KubeClient.for_server("https://10.0.0.2:6443", cert_data=b"c", key_data=b"k")
    scratch = Path(str(client._configuration.key_file)).parent
    assert (scratch / "client.key").exists()
    del client
    gc.collect()
    assert not scratch.exists()  # weakref.finalize; it also runs at interpreter exit


class TestConnectionsAfterASecretWent:
    def test_a_list_read_before_the_secret_went_cannot_open_a_connection(self) -> None:
        from reconciler.clusters.connections import ClusterGone

        built: list[str] = []

        def build(cluster: Cluster) -> str:
            built.append(cluster.name)
            return cluster.name

        connections = ClusterConnections(local="local", build=build, close=lambda _v: None)
        before, _ = read_clusters([_versioned("c-a", "1", name="a", server="https://a:6443")])
        after, _ = read_clusters([])
        connections.retain(before)
        connections.retain(after)  # the Secret was deleted after a worker read `before`
        with pytest.raises(ClusterGone):
            connections.get(before[1])
        assert built == [] and connections.connected() == []
        rotated, _ = read_clusters([_versioned("c-a", "2", name="a", server="https://a:6443")])
        connections.retain(rotated)
        with pytest.raises(ClusterGone):
            connections.get(before[1])  # an old version is not made again either
        assert connections.get(rotated[1]) == "a" and built == ["a"]
