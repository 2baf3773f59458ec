"""`KubeClient.from_kubeconfig` over merged kubeconfigs picks kubectl's current context
(the first file's), and `for_server` builds a client from a cluster Secret's parts."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rollouts.kube import KubeClient


def _kubeconfig(path: Path, name: str, port: int) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": f"https://127.0.0.1:{port}",
                                                "insecure-skip-tls-verify": True}}],
        "users": [{"name": name, "user": {"token": name}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}]}))
    return path


def test_merged_kubeconfigs_use_the_first_files_current_context(tmp_path: Path) -> None:
    first = _kubeconfig(tmp_path / "a", "first", 1001)
    second = _kubeconfig(tmp_path / "b", "second", 1002)
    merged = os.pathsep.join([str(first), str(second)])
    assert KubeClient.from_kubeconfig(merged).host == "https://127.0.0.1:1001"
    assert KubeClient.from_kubeconfig(merged, "second").host == "https://127.0.0.1:1002"


def test_a_client_for_a_server_without_tls_data_verifies_with_the_system_store() -> None:
    client = KubeClient.for_server("https://10.0.0.2:6443/", bearer_token="tok")
    assert client.host == "https://10.0.0.2:6443" and client.verifies_tls
    assert client.certificate_authority() is None
    insecure = KubeClient.for_server("https://10.0.0.2:6443", insecure=True)
    assert not insecure.verifies_tls and insecure._auth_headers() == {}
