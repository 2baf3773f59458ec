"""Git credentials, and keeping them out of everything we write or say.

`Credentials` is what a repository needs: an https username + password (or token), or an
ssh private key. Credentials never travel in a URL that git stores: `git_auth` hands them
to one git process through its environment (a `GIT_ASKPASS` helper that echoes two
environment variables, or `GIT_SSH_COMMAND` with a 0600 key file that is deleted after
the command), and disables credential helpers so a user's `credential.helper=store`
cannot save our token to disk.

`Redactor` scrubs text (error messages, log lines) of URL userinfo (`redact_url`) and of
every secret it was given. `reconciler.source` runs every message through it.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from reconciler.secret_mask import scrub

__all__ = [
    "Credentials",
    "Redactor",
    "basic_authorization",
    "credential_secrets",
    "git_auth",
    "redact_url",
    "split_url_credentials",
]

REDACTED = "<redacted>"

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)
_AUTH_HEADER = re.compile(r"(?i)\b(authorization:\s*(?:basic|bearer|token))\s+\S+")


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to one repository; secrets are left out of `repr`.

    https: `Credentials("user", "token")` (GitHub and GitLab accept any username with a
    token as password). ssh: `Credentials(ssh_private_key=PEM)`, optionally with
    `ssh_known_hosts` lines; without them a host key is trusted on first use and
    remembered in the cache directory.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    ssh_known_hosts: str | None = None

    def secrets(self) -> list[str]:
        """Every string that must never appear in output."""
        return credential_secrets(self.username, self.password, self.ssh_private_key)


def basic_authorization(username: str | None, password: str | None) -> str | None:
    """The HTTP `Authorization` value for basic auth (`Basic base64(user:password)`, an
    absent part empty); None when there is neither."""
    if not (username or password):
        return None
    pair = f"{username or ''}:{password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def credential_secrets(username: str | None, password: str | None,
                       *keys: str | None) -> list[str]:
    """What must never appear in output for these credentials: the password, the `keys`
    (private keys), and the basic-auth token exactly as `basic_authorization` sends it."""
    found = [value for value in (password, *keys) if value]
    header = basic_authorization(username, password) if password else None
    if header is not None:
        found.append(header.removeprefix("Basic "))
    return found


def redact_url(url: str) -> str:
    """`url` without its secrets: http(s) userinfo dropped, other schemes keep the user.

    `https://user:token@host/repo` -> `https://host/repo`; `https://token@host/repo` ->
    `https://host/repo`; `ssh://git:pw@host/repo` -> `ssh://git@host/repo`. Also applied to
    every URL inside a longer text.
    """
    return _URL_USERINFO.sub(_strip_userinfo, url)


def _strip_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if scheme.lower().startswith(("http", "ftp")):
        return scheme
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{user}@"


def split_url_credentials(url: str) -> tuple[str, Credentials | None]:
    """Split `https://user:token@host/repo` into the clean URL and its credentials.

    http(s) loses its whole userinfo (the username travels through askpass); other schemes
    keep the user, which is part of the address (`ssh://git:pw@h/r` -> `ssh://git@h/r`),
    and only lose a password. The password never reaches git's argv or the clone config.
    """
    match = _URL_USERINFO.match(url.strip())
    if match is None:
        return url.strip(), None
    user, colon, password = match.group("userinfo").partition(":")
    if not match.group("scheme").lower().startswith("http") and not colon:
        return url.strip(), None
    clean = redact_url(url.strip())
    return clean, Credentials(username=unquote(user), password=unquote(password) or "")


class Redactor:
    """Scrubs URL userinfo, private keys, auth headers and known secret values from text."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        # Values shorter than secret_mask.MIN_SCRUBBED are left alone by scrub: they
        # would redact ordinary words, and no credential is that short.
        self._secrets = frozenset(secrets or [])

    def with_secrets(self, more: list[str]) -> Redactor:
        return Redactor([*self._secrets, *more])

    def __call__(self, text: str) -> str:
        text = _PRIVATE_KEY.sub(REDACTED, text)
        text = _AUTH_HEADER.sub(rf"\1 {REDACTED}", text)
        return redact_url(scrub(text, self._secrets, REDACTED))


# The askpass helper holds no secret: it echoes variables that exist only in the
# environment of the one git process that needs them.
_ASKPASS_SCRIPT = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "${ROLLOUTS_GIT_USERNAME:-}" ;;
  *) printf '%s\\n' "${ROLLOUTS_GIT_PASSWORD:-}" ;;
esac
[ -n "${ROLLOUTS_GIT_USERNAME:-}${ROLLOUTS_GIT_PASSWORD:-}" ]
"""


def _askpass_helper(directory: Path) -> Path:
    helper = directory / "askpass.sh"
    if not helper.is_file() or helper.read_text() != _ASKPASS_SCRIPT:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, staged = tempfile.mkstemp(prefix=".askpass-", dir=directory)
        with os.fdopen(descriptor, "w") as out:
            out.write(_ASKPASS_SCRIPT)
        os.chmod(staged, 0o700)
        os.replace(staged, helper)
    return helper


def _base_env(helper: Path) -> dict[str, str]:
    return {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": str(helper),
        "SSH_ASKPASS": str(helper),
        # credential.helper= (empty) clears the helper list: nothing stores our token.
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        # Abort a transfer that stalls below 1 KB/s for 30 s instead of hanging.
        "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
        "GIT_HTTP_LOW_SPEED_TIME": "30",
        "ROLLOUTS_GIT_USERNAME": "",
        "ROLLOUTS_GIT_PASSWORD": "",
    }


@contextmanager
def git_auth(credentials: Credentials | None, state_dir: Path, *,
             known_hosts: Path | None = None) -> Iterator[dict[str, str]]:
    """Environment for one git command run with `credentials`; temp files removed after.

    ssh host keys: strict against `credentials.ssh_known_hosts` when given; otherwise
    trusted on first use and remembered in `known_hosts` (the caller passes one file per
    repository, so a key one tenant's Application pinned never vouches for another's
    repository; default `state_dir/known_hosts`). ssh never reads the user's
    `~/.ssh/config`, default keys or agent.
    """
    env = _base_env(_askpass_helper(state_dir))
    ssh_options = [
        "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=2",
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
    ]
    if credentials is not None and (credentials.username or credentials.password):
        env["ROLLOUTS_GIT_USERNAME"] = credentials.username or ""
        env["ROLLOUTS_GIT_PASSWORD"] = credentials.password or ""
    tofu_file = known_hosts or state_dir / "known_hosts"
    tofu_hosts = ["-o", f"UserKnownHostsFile={tofu_file}",
                  "-o", "StrictHostKeyChecking=accept-new"]
    if credentials is None or not credentials.ssh_private_key:
        env["GIT_SSH_COMMAND"] = shlex.join([*ssh_options, "-o", "IdentityFile=none",
                                             *tofu_hosts])
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="rollouts-ssh-") as secret_dir:
        key_file = Path(secret_dir) / "id"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        descriptor = os.open(key_file, flags, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(descriptor, "w") as out:
            key = credentials.ssh_private_key
            out.write(key if key.endswith("\n") else key + "\n")
        ssh_options += ["-i", str(key_file)]
        if credentials.ssh_known_hosts:
            pinned = Path(secret_dir) / "known_hosts"
            pinned.write_text(credentials.ssh_known_hosts)
            ssh_options += ["-o", f"UserKnownHostsFile={pinned}",
                            "-o", "StrictHostKeyChecking=yes"]
        else:
            ssh_options += tofu_hosts
        env["GIT_SSH_COMMAND"] = shlex.join(ssh_options)
        yield env
