"""Running one git command for the Git source: environment, timeouts, and what a failure means.

Every command is a plain subprocess (not GitPython, which always merges the controller's
`os.environ` into the child) with:

- a minimal environment (`git_environment`): `PATH`, proxy and CA variables
  (`PASSED_THROUGH_ENV`), a scratch `HOME`, `LC_ALL=C`, no system or global git config,
  `GIT_ALLOW_PROTOCOL` limited to https/http/ssh/git (plus file when local repositories
  are allowed), and whatever `source_secrets.git_auth` adds for one command. The
  controller's own variables (tokens, `KUBECONFIG`, cloud credentials, the webhook
  secret) never reach git, ssh or a credential helper;
- a hard timeout that kills the whole process group (git, its remote helper and ssh),
  never waited on forever.

A failure becomes a `SourceError` whose message is one redacted line ending with git's own
`fatal:` line, and whose `temporary` flag is the retry policy: network trouble, timeouts
and rejected credentials (they may be rotated) are temporary; a repository or revision
that does not exist is permanent until the Application changes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from reconciler.source_secrets import Redactor
from reconciler.source_url import NETWORK_SCHEMES

__all__ = [
    "GIT_EXECUTABLE",
    "PASSED_THROUGH_ENV",
    "GitCommand",
    "SourceError",
    "git_environment",
    "init_bare_clone",
    "is_temporary",
    "local_commit",
    "summarize_stderr",
]

GIT_EXECUTABLE = "git"
"""Looked up on `PATH` at each call."""

PASSED_THROUGH_ENV = (
    "PATH", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "TZ",
)
"""The only controller variables git sees: how to reach the network, nothing secret."""

_KILL_GRACE = 5.0
_NO_GIT = "git is not installed; install git (Debian package `git`)"

_MAX_DETAIL = 300

# Permanent: retrying with the same spec cannot help.
_PERMANENT = re.compile(
    r"repository .*not found|not found.*repository|does not appear to be a git repository"
    r"|access denied or repository not exported|couldn't find remote ref|invalid refspec"
    r"|not our ref|bad object|unknown revision|not a valid object name"
    r"|returned error: 404|no such repository|protocol .* is not supported"
    r"|unsupported URL protocol|transport '.*' not allowed",
    re.IGNORECASE,
)

_AUTH_FAILED = re.compile(
    r"could not read (username|password)|authentication failed|permission denied \(publickey"
    r"|returned error: 40[13]|invalid username or password",
    re.IGNORECASE,
)


class SourceError(Exception):
    """A Git operation failed; `temporary` says whether retrying later may help.

    The message is a single line with secrets already removed: it goes into Application
    conditions, events and logs as it is.
    """

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary

    def __str__(self) -> str:
        return self.message


def is_temporary(stderr: str) -> bool:
    """Whether git's complaint describes a condition that may pass (network, auth, load)."""
    return _PERMANENT.search(stderr) is None


def summarize_stderr(stderr: str) -> str:
    """git's `fatal:`/`error:` lines (or its last line), joined into one short line."""
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.lower().startswith("hint:")]
    first = next((i for i, line in enumerate(lines)
                  if line.lower().startswith(("fatal:", "error:"))), None)
    # From git's first complaint to the end: "unable to connect" is followed by the errno.
    chosen = lines[first:] if first is not None else lines[-1:]
    detail = " ".join(" ".join(chosen).split())
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 3] + "..."
    return detail or "git gave no reason"


def git_environment(home: Path, *, allow_file: bool = False,
                    extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of one git process: the allowlist, `extra`, then our rules.

    `home` is a scratch directory: git and ssh find no user configuration there. The
    hardening variables come last so that `extra` cannot undo them.
    """
    env = {name: os.environ[name] for name in PASSED_THROUGH_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(extra or {})
    protocols = [*NETWORK_SCHEMES, *(["file"] if allow_file else [])]
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "LANG": "C", "LC_ALL": "C", "LANGUAGE": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": ":".join(protocols),
    })
    return env


def _execute(argv: list[str], cwd: Path, env: Mapping[str, str], timeout: float,
             failure: str) -> tuple[int, str, str] | None:
    """(status, stdout, stderr), or None when the command was killed at `timeout`."""
    try:
        process = subprocess.Popen(
            [GIT_EXECUTABLE, *argv], cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except FileNotFoundError as error:
        raise SourceError(f"{failure}: {_NO_GIT}", temporary=False) from error
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The process group: git's remote helper and ssh go too, so nothing keeps
        # writing into the clone after we gave up on it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.communicate(timeout=_KILL_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
        return None
    return (process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


class GitCommand:
    """Runs `git <args>` in `cwd` with a timeout; failures raise a redacted `SourceError`."""

    def __init__(self, cwd: Path, redactor: Redactor, *, home: Path,
                 allow_file: bool = False) -> None:
        self._cwd = cwd
        self._redact = redactor
        self._home = home
        self._allow_file = allow_file

    def run(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float,
        failure: str,
    ) -> str:
        """stdout of the command; on failure `SourceError("<failure>: <git's reason>")`."""
        full_env = git_environment(self._home, allow_file=self._allow_file, extra=env)
        result = _execute(args, self._cwd, full_env, timeout, failure)
        if result is None:
            raise SourceError(
                self._redact(f"{failure}: no answer within {timeout:g} s (network or server "
                             "unreachable?); will retry"),
                temporary=True,
            )
        status, stdout, stderr = result
        if status == 0:
            return stdout
        detail = summarize_stderr(stderr)
        if _AUTH_FAILED.search(detail):
            detail += "; check the credentials configured for this repository"
        raise SourceError(self._redact(f"{failure}: {detail}"), temporary=is_temporary(detail))


def init_bare_clone(path: Path, url: str, refspecs: list[str], *, home: Path,
                    timeout: float) -> None:
    """An empty bare repository at `path` whose `origin` records `url` (no password) and
    fetches `refspecs`; no template (so no hooks) is copied in."""
    command = GitCommand(path.parent, Redactor(), home=home)
    failure = f"cannot create a clone of {url}"
    command.run(["init", "--quiet", "--bare", "--template=", "--end-of-options", str(path)],
                timeout=timeout, failure=failure)
    in_clone = GitCommand(path, Redactor(), home=home)
    in_clone.run(["config", "--end-of-options", "remote.origin.url", url],
                 timeout=timeout, failure=failure)
    for refspec in refspecs:
        in_clone.run(["config", "--add", "--end-of-options", "remote.origin.fetch", refspec],
                     timeout=timeout, failure=failure)


def local_commit(bare: Path, revision: str, timeout: float, *, home: Path) -> str | None:
    """The commit `revision` names in the local clone, or None (no network involved)."""
    env = git_environment(home)
    failure = f"cannot look up {revision}"
    result = _execute(["rev-parse", "--quiet", "--verify", "--end-of-options",
                       f"{revision}^{{commit}}"], bare, env, timeout, failure)
    if result is None:
        return None
    status, out, _ = result
    return out.strip().lower() if status == 0 and out.strip() else None
