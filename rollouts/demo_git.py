"""The demo's Git repository: where the demo Rollout lives, and where changes are commits.

A plain local repository (branch `main`) seeded with `manifests/demo/`; the Application
reads it over git's `file://` transport. An image change is an edit of
`rollout.yaml` and a commit, exactly what a user would push.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_AUTHOR = ["-c", "user.name=rollouts demo", "-c", "user.email=demo@rollouts.invalid"]


class DemoRepo:
    def __init__(self, directory: Path, seed: Path, *, exclude: tuple[str, ...] = ()) -> None:
        self.directory = directory
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for manifest in sorted(seed.glob("*.yaml")):
            if manifest.name in exclude:
                continue
            shutil.copy(manifest, directory / manifest.name)
        self._git("init", "-q", "-b", "main")
        self._git("add", ".")
        self._git(*_AUTHOR, "commit", "-q", "-m", "demo app: first version")

    @property
    def url(self) -> str:
        return self.directory.resolve().as_uri()

    def _git(self, *args: str) -> str:
        result = subprocess.run(["git", "-C", str(self.directory), *args], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def commit_image(self, image: str, manifest: str = "rollout.yaml") -> str:
        """Point the demo container of `manifest` at `image` and commit; returns the
        short sha."""
        rollout = self.directory / manifest
        text = rollout.read_text()
        changed = re.sub(r"(?m)^(\s+image:\s*)\S+$", rf"\g<1>{image}", text, count=1)
        rollout.write_text(changed)
        self._git("add", manifest)
        self._git(*_AUTHOR, "commit", "-q", "-m", f"demo: deploy {image}")
        return self._git("rev-parse", "--short", "HEAD")

    def log(self) -> str:
        return self._git("log", "--oneline", "-n", "5")
