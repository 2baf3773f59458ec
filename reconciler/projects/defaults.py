"""The `default` AppProject: what Applications that name no project (or `default`) get.

Argo CD creates it at install and so do we (`default_project`, applied by the controller
in its control namespace when it is missing): every repository, every destination, every
kind. An administrator restricts tenants by editing it or by giving them their own projects.
"""

from __future__ import annotations

from typing import Any

from rollouts.api.common import API_VERSION

__all__ = ["DEFAULT_PROJECT_NAME", "default_project"]

DEFAULT_PROJECT_NAME = "default"


def default_project(namespace: str) -> dict[str, Any]:
    """Argo CD's `default` AppProject in `namespace`, as a manifest."""
    return {
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {"name": DEFAULT_PROJECT_NAME, "namespace": namespace},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }
