"""When a component of the dev cluster fails, `up` says which, and leaves nothing running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollouts.devcluster import DevClusterError, up
from rollouts.devcluster.process import Running, stop, wait_until
from rollouts.devcluster.versions import CONTROL_PLANE_TOOLS

HEALTHY_ETCD = f"""#!{sys.executable}
import http.server, sys
url = next(a for a in sys.argv if a.startswith("--listen-client-urls=")).split("=", 1)[1]
port = int(url.rsplit(":", 1)[1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{{"health":"true"}}')
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def _fake_cache(root: Path, crashing: str) -> None:
    """Stand-in binaries: `crashing` exits at once, etcd answers /health, others sleep."""
    for tool in CONTROL_PLANE_TOOLS:
        directory = tool.directory(root)
        directory.mkdir(parents=True)
        (directory / ".done").touch()
        for binary in tool.binaries:
            script = directory / binary
            if binary == crashing:
                script.write_text("#!/bin/sh\necho boom >&2; exit 1\n")
            elif binary == "etcd":
                script.write_text(HEALTHY_ETCD)
            else:
                script.write_text("#!/bin/sh\nexec sleep 300\n")
            script.chmod(0o755)


def test_given_etcd_crashes_when_up_then_error_names_it_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    (tmp_path / "prometheus").write_text("#!/bin/sh\nexec sleep 300\n")
    (tmp_path / "prometheus").chmod(0o755)
    _fake_cache(tmp_path / "cache", crashing="etcd")
    state = tmp_path / "state"

    with pytest.raises(DevClusterError) as caught:
        up(lambda _: None, directory=state)

    message = str(caught.value)
    assert "etcd exited" in message
    assert "etcd.log" in message
    assert "\n" not in message
    assert not state.exists(), "a failed up removes its state"


def test_given_apiserver_never_ready_when_up_then_etcd_is_stopped_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    (tmp_path / "prometheus").write_text("#!/bin/sh\nexec sleep 300\n")
    (tmp_path / "prometheus").chmod(0o755)
    _fake_cache(tmp_path / "cache", crashing="kube-apiserver")
    with pytest.raises(DevClusterError) as caught:
        up(lambda _: None, directory=tmp_path / "state")
    assert "kube-apiserver exited" in str(caught.value)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "cache")], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == ""


def test_stop_leaves_alone_a_pid_that_now_runs_something_else() -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        impostor = Running("etcd", other.pid, "/nonexistent/etcd", "/dev/null")
        assert not impostor.alive()
        stop(impostor, grace_seconds=0.5)
        time.sleep(0.2)
        assert other.poll() is None, "the unrelated process must still run"
    finally:
        other.kill()
        other.wait()


def test_a_component_that_exits_at_start_is_named_with_its_log_s_last_line(
        tmp_path: Path) -> None:
    log = tmp_path / "kube-apiserver.log"
    log.write_text("I0101 starting\nE0101 failed to listen on 127.0.0.1:6443: address "
                   "already in use\n\n")
    gone = Running("kube-apiserver", 2**22 + 1, "/bin/false", str(log))
    with pytest.raises(DevClusterError, match=r"exited before it was ready; its log .* "
                                              r"ends: E0101 failed to listen .*in use$"):
        wait_until(gone, lambda: False, what="ready", timeout=5)
