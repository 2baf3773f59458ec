"""The renderers' external tools: where `kubectl` (kustomize) and `helm` are, and running them.

Our own builds come first: `rollouts dev build` puts kubectl in
`~/.cache/rollouts/bin/kubernetes-<version>/` and `rollouts dev build --all` adds helm in
`~/.cache/rollouts/bin/helm-<version>/` (see `rollouts.devcluster.versions`), so the
rendered output does not depend on whatever happens to be installed. A tool that was not
built is looked up in the absolute directories of PATH; `ToolNotFound` says how to get it
otherwise. A found tool is remembered (per cache directory and PATH) as an absolute path.

A tool renders untrusted Git content, so it runs (`run_tool`) with `environment()`: an
allowlist built from scratch, never the controller's own environment (no tokens, no
cloud credentials, no `HELM_*`/`KUBECONFIG` overrides, no `~/.gitconfig`), in its own
process group that is killed whole when the render's deadline passes, and with its
output capped by the render's byte budget.

Neighbours: `reconciler.render_kustomize` and `reconciler.render_helm` call these;
`reconciler.render_base` holds the budget and `RenderError`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from reconciler.render_base import RenderBudget, RenderError
from rollouts.devcluster.build import tool_path
from rollouts.devcluster.versions import HELM, KUBERNETES, Tool, cache_dir

__all__ = [
    "STDERR_KEEP_BYTES",
    "ToolNotFound",
    "environment",
    "find_tool",
    "helm",
    "kubectl",
    "run_tool",
]

STDERR_KEEP_BYTES = 64 * 1024
"""How much of a tool's stderr is kept for the error message (the end of it)."""

_REMOTE_GIT_PROTOCOLS = "https:ssh"


class ToolNotFound(Exception):
    """A tool a renderer needs is neither built by us nor on PATH."""


_HOW_TO_GET = {
    "kubectl": "run `rollouts dev build` (or install kubectl >= 1.27 on PATH)",
    "helm": "run `rollouts dev build --all` (or install helm 3 on PATH)",
}

_found: dict[tuple[str, str, str], Path] = {}
_found_lock = threading.Lock()


def find_tool(tool: Tool, binary: str) -> Path:
    """Our build of `binary` if it is finished, else the one on PATH; an absolute path."""
    search_path = os.environ.get("PATH", "")
    key = (binary, str(cache_dir()), search_path)
    with _found_lock:
        known = _found.get(key)
    if known is not None and os.access(known, os.X_OK):
        return known
    found = _locate(tool, binary, search_path)
    with _found_lock:
        _found[key] = found
    return found


def _locate(tool: Tool, binary: str, search_path: str) -> Path:
    built = tool_path(tool, binary)
    if tool.built(cache_dir()) and os.access(built, os.X_OK):
        return built.absolute()
    # Relative PATH entries would make the tool depend on the working directory.
    absolute = os.pathsep.join(d for d in search_path.split(os.pathsep) if os.path.isabs(d))
    found = shutil.which(binary, path=absolute) if absolute else None
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


def environment(scratch: Path, *, allow_remote_git: bool = False) -> dict[str, str]:
    """The whole environment of a renderer tool, with its homes under `scratch`.

    Only PATH comes from the controller (so kustomize finds git); everything else is
    fixed: homes and caches in the scratch directory (no host helm repositories or
    plugins, no `~/.gitconfig` or SSH keys), no kubeconfig, and git limited to
    `https` and `ssh` when remote kustomize bases are allowed, to nothing otherwise.
    """
    home = scratch / "home"
    tmp = scratch / "tmp"
    for directory in (home, tmp):
        directory.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "HELM_CACHE_HOME": str(scratch / "helm/cache"),
        "HELM_CONFIG_HOME": str(scratch / "helm/config"),
        "HELM_DATA_HOME": str(scratch / "helm/data"),
        "HELM_PLUGINS": str(scratch / "helm/plugins"),
        "KUBECONFIG": os.devnull,
        "GIT_ALLOW_PROTOCOL": _REMOTE_GIT_PROTOCOLS if allow_remote_git else "",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
    }


def run_tool(
    argv: list[str],
    *,
    what: str,
    env: Mapping[str, str],
    budget: RenderBudget,
    cwd: Path | None = None,
) -> str:
    """stdout of a renderer tool; failure -> `RenderError("<what> failed: <stderr reason>")`.

    `env` is the tool's whole environment (see `environment()`). The tool gets the
    render's remaining time and byte budget: past either, its process group is killed.
    The reason is the tool's last `Error:` line on stderr, else its last line.
    """
    budget.check_time(what)
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as error:
        raise RenderError(f"{what} could not run {argv[0]}: {error.strerror}") from error
    try:
        stdout, stderr, problem = _collect(process, budget)
    finally:
        _kill_group(process)
    if problem == "timeout":
        raise RenderError(
            f"{what} did not finish within {budget.policy.timeout_seconds:g} s; the render "
            "was stopped"
        )
    if problem == "too big":
        raise RenderError(
            f"{what} printed more than {budget.policy.max_total_bytes} bytes of manifests in "
            "total; the render was stopped"
        )
    if process.returncode != 0:
        lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()
                 if line.strip()]
        # The last `Error:` line is the reason; helm follows it with a `--debug` hint.
        errors = [line for line in lines if line.lower().startswith(("error", "fatal"))]
        reason = (errors or lines or [f"exit status {process.returncode}, no message"])[-1]
        raise RenderError(f"{what} failed: {reason}")
    budget.add_total(len(stdout), f"{what} output")
    try:
        return stdout.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RenderError(f"{what} printed output that is not UTF-8: {error.reason}") from error


def _collect(process: subprocess.Popen[bytes], budget: RenderBudget) -> tuple[bytes, bytes, str]:
    """Read stdout and stderr until exit, the deadline, or too much output."""
    assert process.stdout is not None and process.stderr is not None
    limit = budget.remaining_bytes()
    stdout = bytearray()
    stderr = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, stdout)
        selector.register(process.stderr, selectors.EVENT_READ, stderr)
        while selector.get_map():
            remaining = budget.remaining_seconds()
            if remaining <= 0:
                return bytes(stdout), bytes(stderr), "timeout"
            for key, _ in selector.select(timeout=remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer: bytearray = key.data
                buffer += chunk
                if buffer is stderr and len(stderr) > STDERR_KEEP_BYTES:
                    del stderr[:-STDERR_KEEP_BYTES]
                if len(stdout) > limit:
                    return bytes(stdout), bytes(stderr), "too big"
    while budget.remaining_seconds() > 0:
        if _exited(process.pid):
            return bytes(stdout), bytes(stderr), ""
        time.sleep(0.01)
    return bytes(stdout), bytes(stderr), "timeout"


def _exited(pid: int) -> bool:
    """Whether the process has exited, leaving it unreaped so its group id stays ours."""
    try:
        result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return result is not None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the tool and anything it started (kustomize runs git), then reap it.

    The tool is still unreaped here, so its pid (the group id) cannot have been reused.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
