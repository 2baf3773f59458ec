"""Where the renderers find `kubectl` (with kustomize built in) and `helm`.

Our own builds come first: `rollouts dev build` puts kubectl in
`~/.cache/rollouts/bin/kubernetes-<version>/` and `rollouts dev build --all` adds helm in
`~/.cache/rollouts/bin/helm-<version>/` (see `rollouts.devcluster.versions`), so the
rendered output does not depend on whatever happens to be installed. A tool that was not
built is looked up on PATH; `ToolNotFound` says how to get it otherwise.

Neighbours: `reconciler.render_kustomize` and `reconciler.render_helm` call these.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rollouts.devcluster.build import tool_path
from rollouts.devcluster.versions import HELM, KUBERNETES, Tool, cache_dir

__all__ = ["ToolNotFound", "find_tool", "helm", "kubectl"]


class ToolNotFound(Exception):
    """A tool a renderer needs is neither built by us nor on PATH."""


_HOW_TO_GET = {
    "kubectl": "run `rollouts dev build` (or install kubectl >= 1.27 on PATH)",
    "helm": "run `rollouts dev build --all` (or install helm 3 on PATH)",
}


def find_tool(tool: Tool, binary: str) -> Path:
    """Our build of `binary` if it is finished, else the one on PATH."""
    built = tool_path(tool, binary)
    if tool.built(cache_dir()) and os.access(built, os.X_OK):
        return built
    found = shutil.which(binary)
    if found:
        return Path(found)
    raise ToolNotFound(
        f"{binary} is not available: it is not built in {tool.directory(cache_dir())} and not "
        f"on PATH; {_HOW_TO_GET.get(binary, 'install it')}"
    )


def kubectl() -> Path:
    """The kubectl used for `kubectl kustomize`."""
    return find_tool(KUBERNETES, "kubectl")


def helm() -> Path:
    """The helm used for `helm template`."""
    return find_tool(HELM, "helm")
