"""Starting, probing and stopping the dev cluster's processes, by PID.

Every process is started in its own session with its output in a log file, and is
recorded with its PID and the binary it runs, so `stop` only ever signals a process
that is still the one we started (a reused PID running something else is left alone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rollouts.devcluster.errors import DevClusterError

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Running:
    """A started process: its component name, PID, binary, log file and full argv.

    `argv` lets one component be started again as it was (`cluster.start_component`);
    state files written before it existed load with an empty argv.
    """

    name: str
    pid: int
    binary: str
    log: str
    argv: tuple[str, ...] = ()

    def alive(self) -> bool:
        child = _CHILDREN.get(self.pid)
        if child is not None:
            # Started by this process: ask it directly (right after fork, /proc still
            # shows our own command line, so the check below would be wrong).
            return child.poll() is None
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        # The binary is argv[0], or argv[1] when an interpreter runs a script.
        head = [part.decode(errors="replace") for part in cmdline.split(b"\0")[:2]]
        if not any(Path(part).name == Path(self.binary).name for part in head):
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        # A zombie (state Z) has exited; its parent just has not reaped it yet.
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "binary": self.binary, "log": self.log,
                "argv": list(self.argv)}

    @staticmethod
    def from_json(data: dict[str, object]) -> Running:
        argv = data.get("argv")
        return Running(str(data["name"]), int(str(data["pid"])), str(data["binary"]),
                       str(data["log"]),
                       tuple(str(part) for part in argv) if isinstance(argv, list) else ())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Running:
    """Start `argv` detached from our terminal, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    _CHILDREN[proc.pid] = proc
    return Running(name, proc.pid, argv[0], str(log), tuple(argv))


def stop(process: Running, grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it after a grace period."""
    if not process.alive():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while process.alive() and time.monotonic() < deadline:
        _reap(process.pid)
        time.sleep(0.1)
    if process.alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.2)
    _reap(process.pid)


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def http_ok(
    url: str,
    *,
    token: str | None = None,
    ca_file: Path | None = None,
    verify: bool = True,
    expect: str | None = None,
) -> bool:
    """True when `url` answers 200 (and its body contains `expect`, if given)."""
    context: ssl.SSLContext | None = None
    if url.startswith("https"):
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            body = response.read().decode(errors="replace")
            return response.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def wait_until(
    process: Running,
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
) -> None:
    """Poll `ready` until it holds; fail naming the component and its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise DevClusterError(
                f"{process.name} exited before it was {what}; its log {process.log} "
                f"ends: {_last_line(Path(process.log))}"
            )
        if ready():
            return
        time.sleep(0.2)
    raise DevClusterError(
        f"{process.name} was not {what} after {timeout:.0f}s; see its log: {process.log}"
    )


def _last_line(log: Path, limit: int = 400) -> str:
    """The last non-empty line of a component's log, cut to `limit` characters: the
    usual reason it exited (a port in use, a bad flag), shown where the error is read
    (CI output), since the log itself may be gone by then."""
    try:
        with log.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 4096))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError as problem:
        return f"(unreadable: {problem.strerror})"
    text = next((line.strip() for line in reversed(lines) if line.strip()), "(empty)")
    return text[:limit]
