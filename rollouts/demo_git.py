"""The demo's Git repository: where the demo Rollout lives, and where changes are commits.

A local repository (branch `main`) seeded with `manifests/demo/`, written with GitPython,
and served read-only by `git daemon` on 127.0.0.1 (`git://`), the way a team's Git server
would serve it: the controller refuses local paths and `file://` URLs unless
`--allow-local-repos` says otherwise (docs/security.md), and the demo needs no exception.
An image change is an edit of `rollout.yaml` and a commit, exactly what a user would push.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import git

_AUTHOR = git.Actor("rollouts demo", "demo@rollouts.invalid")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DemoRepo:
    """The repository, and (inside `with`) the `git daemon` that serves it."""

    def __init__(self, directory: Path, seed: Path, *, exclude: tuple[str, ...] = ()) -> None:
        self.directory = directory
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for manifest in sorted(seed.glob("*.yaml")):
            if manifest.name in exclude:
                continue
            shutil.copy(manifest, directory / manifest.name)
        self.repo = git.Repo.init(directory, initial_branch="main")
        self.repo.index.add(sorted(p.name for p in directory.glob("*.yaml")))
        self.repo.index.commit("demo app: first version", author=_AUTHOR, committer=_AUTHOR)
        self.port = _free_port()
        self._daemon: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}/{self.directory.name}"

    def __enter__(self) -> DemoRepo:
        self._daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
             f"--port={self.port}", f"--base-path={self.directory.parent}",
             str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"git daemon did not start on 127.0.0.1:{self.port}")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._daemon is not None:
            self._daemon.terminate()
            self._daemon.wait(10)
            self._daemon = None

    def commit_image(self, image: str, manifest: str = "rollout.yaml") -> str:
        """Point the demo container of `manifest` at `image` and commit; returns the
        short sha."""
        rollout = self.directory / manifest
        text = rollout.read_text()
        changed = re.sub(r"(?m)^(\s+image:\s*)\S+$", rf"\g<1>{image}", text, count=1)
        rollout.write_text(changed)
        self.repo.index.add([manifest])
        commit = self.repo.index.commit(f"demo: deploy {image}", author=_AUTHOR,
                                        committer=_AUTHOR)
        return commit.hexsha[:7]

    def log(self) -> str:
        return "\n".join(f"{c.hexsha[:7]} {c.summary!s}"
                         for c in self.repo.iter_commits("main", max_count=5))
