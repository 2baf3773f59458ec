"""Building the control plane's binaries from Go modules, once per pinned version.

The work is done by `build_tools.sh` (a wrapper Go module per tool, `go build`); this
module decides whether it is needed and turns its failure into one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

from rollouts.devcluster.errors import DevClusterError
from rollouts.devcluster.versions import (
    CONTROL_PLANE_TOOLS,
    Tool,
    build_environment,
    cache_dir,
)


def tool_path(tool: Tool, binary: str) -> Path:
    """Path of one built binary (it may not exist yet)."""
    return tool.directory(cache_dir()) / binary


def missing(tools: Iterable[Tool] = CONTROL_PLANE_TOOLS) -> list[Tool]:
    return [tool for tool in tools if not tool.built(cache_dir())]


def ensure_built(
    say: Callable[[str], None], tools: Iterable[Tool] = CONTROL_PLANE_TOOLS
) -> None:
    """Build whichever of `tools` is not cached yet; raise `DevClusterError` on failure."""
    todo = missing(tools)
    if not todo:
        return
    if shutil.which("go") is None:
        raise DevClusterError(
            "Go is not installed, and the control plane must be built from Go modules; "
            "install Go >= 1.26 and retry"
        )
    names = [tool.name for tool in todo]
    log = cache_dir() / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"building {', '.join(names)} from Go modules (first time only; log: {log})")
    script = resources.files("rollouts.devcluster").joinpath("build_tools.sh")
    started = time.monotonic()
    with log.open("a") as out, resources.as_file(script) as script_path:
        result = subprocess.run(
            ["bash", str(script_path), *names],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **build_environment()}, check=False,
        )
    if result.returncode != 0:
        raise DevClusterError(f"building {', '.join(names)} failed; see its log: {log}")
    say(f"built {', '.join(names)} in {time.monotonic() - started:.0f}s")
