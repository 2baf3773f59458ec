"""Pinned versions of the local control plane and where their binaries are cached.

The one place that names the versions: the build script receives them as environment
variables, and the cache directory of each tool is named after its version, so a
changed pin means a rebuild and an unchanged one means none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.7.3"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"


@dataclass(frozen=True)
class Tool:
    """A tool built from a Go module: its name, version and the binaries it yields."""

    name: str
    version: str
    binaries: tuple[str, ...]

    def directory(self, cache: Path) -> Path:
        return cache / "bin" / f"{self.name}-{self.version}"

    def built(self, cache: Path) -> bool:
        return (self.directory(cache) / ".done").is_file()


KUBERNETES = Tool(
    "kubernetes",
    KUBERNETES_VERSION,
    ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
)
ETCD = Tool("etcd", ETCD_VERSION, ("etcd",))
KWOK = Tool("kwok", KWOK_VERSION, ("kwok",))
HELM = Tool("helm", HELM_VERSION, ("helm",))
CONTROL_PLANE_TOOLS = (ETCD, KWOK, KUBERNETES)
ALL_TOOLS = (*CONTROL_PLANE_TOOLS, HELM)


def cache_dir() -> Path:
    """Root of everything built or run by the dev cluster (outside the repo)."""
    configured = os.environ.get("ROLLOUTS_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "rollouts"


def state_dir(name: str | None = None) -> Path:
    """Where a running dev cluster keeps its certificates, data, logs and state file; a
    named one (`rollouts dev up --name NAME`) beside the default one, as `<dir>-NAME`."""
    configured = os.environ.get("ROLLOUTS_DEV_DIR")
    default = Path(configured).expanduser() if configured else cache_dir() / "dev"
    return default.with_name(f"{default.name}-{name}") if name else default


def build_environment() -> dict[str, str]:
    """Environment variables that pass the pins to `build_tools.sh`."""
    return {
        "KUBERNETES_VERSION": KUBERNETES_VERSION,
        "ETCD_VERSION": ETCD_VERSION,
        "KWOK_VERSION": KWOK_VERSION,
        "HELM_VERSION": HELM_VERSION,
        "ROLLOUTS_CACHE": str(cache_dir()),
    }
