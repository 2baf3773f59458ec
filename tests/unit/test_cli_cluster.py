"""`rollouts cluster`: the Secret `add` writes is the cluster the controller reads back,
Argo CD's names on the target cluster, and the `list` table."""

from __future__ import annotations

from reconciler.clusters import Cluster, read_clusters
from rollouts.cli.cluster_cmds import (
    ProbeResult,
    cluster_secret,
    manager_objects,
    render_list,
    secret_name,
)

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_secret_add_writes_reads_back_as_the_same_cluster() -> None:
    secret = cluster_secret(name="second", server="https://127.0.0.1:40123", token="tok",
                            ca_data=CA, insecure=False, namespace="rollouts")
    assert secret["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "cluster"}
    assert secret["metadata"]["namespace"] == "rollouts"
    clusters, problems = read_clusters([secret])
    assert problems == []
    second = clusters[1]
    assert (second.name, second.server, second.bearer_token) == (
        "second", "https://127.0.0.1:40123", "tok")
    assert second.tls.ca_data == CA and not second.tls.insecure and not second.local


def test_secret_names_follow_argo_cd_and_are_valid_object_names() -> None:
    name = secret_name("https://Staging.Example.com:6443")
    assert name.startswith("cluster-staging.example.com-")
    assert name == secret_name("https://Staging.Example.com:6443")
    assert name != secret_name("https://staging.example.com:6444")
    assert all(c.isalnum() or c in "-." for c in name) and name == name.lower()
    # Argo CD's own names for these servers (its URIToSecretName tests): FNV-32a of the URL.
    assert secret_name("http://foo") == "cluster-foo-752281925"
    assert secret_name("http://thelongestdomainnameintheworld.argocd-project.com:3000") == \
        "cluster-thelongestdomainnameintheworld.argocd-project.com-2721640553"
    assert secret_name("http://[fe80::1ff:fe23:4567:890a]:8000") == \
        "cluster-fe80--1ff-fe23-4567-890a-664858999"
    assert secret_name("http://[FE80::1FF:FE23:4567:890A]:8000") == \
        "cluster-fe80--1ff-fe23-4567-890a-682802007"


def test_the_target_gets_argo_cd_s_account_role_binding_and_token() -> None:
    objects = dict((f"{kind}/{body['metadata']['name']}", body)
                   for kind, body in manager_objects())
    assert set(objects) == {
        "v1/ServiceAccount/argocd-manager",
        "rbac.authorization.k8s.io/v1/ClusterRole/argocd-manager-role",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding/argocd-manager-role-binding",
        "v1/Secret/argocd-manager-long-lived-token"}
    token = objects["v1/Secret/argocd-manager-long-lived-token"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {
        "kubernetes.io/service-account.name": "argocd-manager"}
    binding = objects["rbac.authorization.k8s.io/v1/ClusterRoleBinding/"
                      "argocd-manager-role-binding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "argocd-manager",
                                    "namespace": "kube-system"}]


def test_list_shows_server_name_version_and_reachability() -> None:
    clusters = [Cluster(name="in-cluster", server="https://kubernetes.default.svc", local=True),
                Cluster(name="second", server="https://127.0.0.1:40123")]
    table = render_list(clusters, [ProbeResult("v1.37.2", ""),
                                   ProbeResult("", "connection refused")]).splitlines()
    assert table[0].split() == ["SERVER", "NAME", "VERSION", "STATUS", "MESSAGE"]
    assert table[1].split() == ["https://kubernetes.default.svc", "in-cluster", "v1.37.2",
                                "Successful", "-"]
    assert table[2].split()[:4] == ["https://127.0.0.1:40123", "second", "-", "Failed"]
    assert table[2].endswith("connection refused")
