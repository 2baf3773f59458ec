"""A second, named dev cluster: its own directory beside the default one, and kubeconfig
names that do not collide when both kubeconfigs are merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollouts.devcluster import Cluster, DevClusterError
from rollouts.devcluster.cluster import check_name
from rollouts.devcluster.versions import state_dir


def test_a_named_cluster_lives_beside_the_default_one(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("ROLLOUTS_DEV_DIR", str(tmp_path / "dev"))
    assert state_dir() == tmp_path / "dev"
    assert state_dir("second") == tmp_path / "dev-second"


def test_contexts_are_named_after_the_cluster(tmp_path: Path) -> None:
    assert Cluster(directory=tmp_path).context == "rollouts-dev"
    assert Cluster(directory=tmp_path, name="second").context == "rollouts-dev-second"


def test_the_name_is_saved_with_the_state(tmp_path: Path) -> None:
    Cluster(directory=tmp_path, name="second", ports={"apiserver": 1}).save()
    loaded = Cluster.load(tmp_path)
    assert loaded is not None and loaded.name == "second"


@pytest.mark.parametrize("name", ["", "Second", "a_b", "-a", "../x", "x" * 40])
def test_a_name_that_is_not_a_short_dns_label_is_refused(name: str) -> None:
    with pytest.raises(DevClusterError, match="short DNS label"):
        check_name(name)
