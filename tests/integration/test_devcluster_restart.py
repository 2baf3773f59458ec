"""One component of a dev cluster stopped and started again (`restart_component`, what
the chaos harness uses): on a cluster of its own, never the shared one, since restarting
its API server would break the tests running beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollouts.devcluster import (
    Cluster,
    DevClusterError,
    down,
    restart_component,
    start_component,
    stop_component,
    up,
)
from rollouts.devcluster.process import Running


def test_a_state_file_without_argv_still_loads() -> None:
    old = {"name": "etcd", "pid": 1, "binary": "/bin/etcd", "log": "/tmp/etcd.log"}
    running = Running.from_json(old)
    assert running.argv == ()
    assert Running.from_json(running.to_json()) == running
    with_argv = Running("etcd", 1, "/bin/etcd", "/tmp/etcd.log", ("/bin/etcd", "--x"))
    assert Running.from_json(json.loads(json.dumps(with_argv.to_json()))) == with_argv


def test_etcd_and_the_api_server_restarted_keep_the_cluster_and_its_data(
    tmp_path: Path
) -> None:
    directory = tmp_path / "own-cluster"
    lines: list[str] = []
    cluster = up(lines.append, directory=directory, build=False)
    try:
        cluster.kubectl_run("create", "configmap", "survivor", "--from-literal=a=1")
        uid = cluster.kubectl_run("get", "configmap", "survivor", "-o", "jsonpath={.metadata.uid}")
        before = {p.name: p.pid for p in cluster.processes}

        restart_component(lines.append, "etcd", directory=directory, grace_seconds=0)
        restart_component(lines.append, "kube-apiserver", directory=directory)

        again = Cluster.load(directory)
        assert again is not None
        after = {p.name: p.pid for p in again.processes}
        assert after["etcd"] != before["etcd"]
        assert after["kube-apiserver"] != before["kube-apiserver"]
        assert {k: v for k, v in after.items() if k not in ("etcd", "kube-apiserver")} == {
            k: v for k, v in before.items() if k not in ("etcd", "kube-apiserver")}
        assert all(again.healthy().values()), again.healthy()
        assert cluster.kubectl_run(
            "get", "configmap", "survivor", "-o", "jsonpath={.metadata.uid}") == uid

        with pytest.raises(DevClusterError, match=r"no component 'etcdd'.*choose from"):
            stop_component(lines.append, "etcdd", directory=directory)
        with pytest.raises(DevClusterError, match="still running"):
            start_component(lines.append, "prometheus", directory=directory)
    finally:
        down(lines.append, directory=directory)
