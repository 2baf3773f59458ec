"""Running one git command for the Git source: timeouts, secrets, and what a failure means.

Every command runs through GitPython's `Git.execute` with a hard timeout (the process is
killed, never waited on forever) and the environment from `source_secrets.git_auth`. A
failure becomes a `SourceError` whose message is one redacted line ending with git's own
`fatal:` line, and whose `temporary` flag is the retry policy: network trouble, timeouts
and rejected credentials (they may be rotated) are temporary; a repository or revision
that does not exist is permanent until the Application changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from reconciler.source_secrets import Redactor

# GitPython raises ImportError when git is missing; we would rather say so in a
# SourceError when a fetch is attempted, so that the controller still starts.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git

__all__ = [
    "GitCommand",
    "SourceError",
    "init_bare_clone",
    "is_temporary",
    "local_commit",
    "summarize_stderr",
]

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


class GitCommand:
    """Runs `git <args>` in `cwd` with a timeout; failures raise a redacted `SourceError`."""

    def __init__(self, cwd: Path, redactor: Redactor) -> None:
        self._git = git.Git(str(cwd))
        self._redact = redactor

    def run(
        self,
        args: list[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        failure: str,
    ) -> str:
        """stdout of the command; on failure `SourceError("<failure>: <git's reason>")`."""
        executable = git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"
        try:
            status, stdout, stderr = self._git.execute(
                [executable, *args],
                env=dict(env),
                kill_after_timeout=timeout,
                with_extended_output=True,
                with_exceptions=False,
            )
        except git.GitCommandNotFound as error:
            raise SourceError(f"{failure}: {_NO_GIT}", temporary=False) from error
        if status == 0:
            return str(stdout)
        stderr_text = str(stderr)
        if "Timeout:" in stderr_text and "did not complete" in stderr_text:
            raise SourceError(
                self._redact(f"{failure}: no answer within {timeout:g} s (network or server "
                             "unreachable?); will retry"),
                temporary=True,
            )
        detail = summarize_stderr(stderr_text)
        if _AUTH_FAILED.search(detail):
            detail += "; check the credentials configured for this repository"
        raise SourceError(self._redact(f"{failure}: {detail}"), temporary=is_temporary(detail))


def init_bare_clone(path: Path, url: str, refspecs: list[str]) -> None:
    """An empty bare repository at `path` whose `origin` fetches `refspecs` from `url`."""
    try:
        repo = git.Repo.init(str(path), bare=True)
    except git.GitCommandNotFound as error:
        raise SourceError(f"cannot create a clone of {url}: {_NO_GIT}", temporary=False) from error
    try:
        repo.create_remote("origin", url)
        with repo.config_writer() as config:
            config.set_value('remote "origin"', "fetch", refspecs[0])
            for refspec in refspecs[1:]:
                config.add_value('remote "origin"', "fetch", refspec)
    finally:
        repo.close()


def local_commit(bare: Path, revision: str, timeout: float) -> str | None:
    """The commit `revision` names in the local clone, or None (no network involved)."""
    try:
        status, out, _ = git.Git(str(bare)).execute(
            [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", "rev-parse", "--quiet", "--verify",
             "--end-of-options", f"{revision}^{{commit}}"],
            with_extended_output=True, with_exceptions=False, kill_after_timeout=timeout,
        )
    except git.GitCommandNotFound as error:
        raise SourceError(f"cannot look up {revision}: {_NO_GIT}", temporary=False) from error
    return str(out).strip().lower() if status == 0 and out else None
