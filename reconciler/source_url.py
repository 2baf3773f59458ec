"""Repository URLs: which ones the controller will fetch, and when two of them are the same.

`parse_repo_url` reads the forms git reads (`https://`, `http://`, `ssh://`, `git://`,
scp-like `user@host:path`, and with `allow_local` also `file://` and local paths) into a
`RepoURL` with the host lower-cased, the default port dropped, the path split into
segments without `.git` or a trailing `/`. Anything else is refused with a one-line
`RepoURLProblem`: other schemes and remote helpers (`ext::`), a leading `-` (git would
read it as an option), control characters, `.`/`..` segments, a query or fragment, and
authorities git and we could read differently (several `@`, a `:` in an scp user).

Three users: `reconciler.source` (the allowlist at fetch time, the cache key, the per-host
concurrency bound), `reconciler.repo_creds` (credentials by equal `match_key`s or
`covers`, never by string prefix) and `split_url_credentials` in
`reconciler.source_secrets`; `reconciler.charts.urls` reads chart repository URLs with
the same host, port, path and message helpers. Pure: no I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote

from reconciler.source_secrets import redact_url

__all__ = [
    "ALLOW_LOCAL_FLAG",
    "NETWORK_SCHEMES",
    "MatchKey",
    "RepoURL",
    "RepoURLProblem",
    "covers",
    "has_control_characters",
    "host_port",
    "parse_repo_url",
    "path_segments",
    "shown_url",
]

NETWORK_SCHEMES = ("https", "http", "ssh", "git")
"""What a repoURL may use (plus scp-like `user@host:path`, which is ssh)."""

ALLOW_LOCAL_FLAG = "--allow-local-repos"
"""The controller option that permits `file://` and local paths (`GitSource(allow_local)`)."""

_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
_SCHEME_ALIASES = {"git+ssh": "ssh", "ssh+git": "ssh"}
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)$")
_REMOTE_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# scp-like as git reads it: no "://", and a ":" before any "/". The user part may not hold
# ":" or "@": git splits such strings elsewhere than a URL parser would (`a:b@c:d` is host
# `a` to git), so they are refused rather than guessed.
_SCP = re.compile(r"^(?:(?P<user>[^@/:\[\]]+)@)?(?P<host>[^@/:\[\]]+|\[[0-9A-Fa-f:.]+\]):"
                  r"(?P<path>.*)$")
_HOST = re.compile(r"^(?:[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


MatchKey = tuple[str, str, int | None, tuple[str, ...]]
"""What credentials are matched on: scheme, host, port (None: the default), lower-cased
path segments (`RepoURL.match_key`; chart repositories build the same from their URL)."""


class RepoURLProblem(ValueError):
    """A repoURL the controller will not fetch; the message is one line, safe to show."""


@dataclass(frozen=True)
class RepoURL:
    """A parsed repository URL (`scheme` is `ssh` for scp-like, `file` for local paths)."""

    scheme: str
    host: str
    """Lower case; `""` for local repositories."""
    port: int | None
    """None when it is the scheme's default port."""
    segments: tuple[str, ...]
    """Path segments, case kept, without empty ones, `.git` or a trailing `/`."""
    user: str | None = None
    password: str | None = None
    clean: str = ""
    """The URL as written, minus the password (and for http(s), minus any userinfo)."""

    @property
    def authority(self) -> str:
        """`host:port` (default port spelled out): the per-host concurrency key."""
        port = self.port if self.port is not None else _DEFAULT_PORTS.get(self.scheme, 0)
        return f"{self.host}:{port}"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    def cache_key(self) -> str:
        """One key for every spelling of one repository (host case, `.git`, trailing `/`,
        default port, userinfo); the path keeps its case (servers may tell them apart)."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}/{'/'.join(self.segments)}"

    def match_key(self) -> MatchKey:
        """What credentials are matched on: scheme, host, port, lower-cased segments."""
        return (self.scheme, self.host, self.port, tuple(s.lower() for s in self.segments))


def covers(prefix: MatchKey, key: MatchKey) -> bool:
    """`key` is `prefix` or below it, by whole path segments (how `repo-creds` match;
    a `repository` Secret matches when the keys are equal): `https://h/acme` covers
    `https://h/acme/app`, never `https://h/acme-evil`."""
    return key[:3] == prefix[:3] and key[3][: len(prefix[3])] == prefix[3]


def parse_repo_url(url: str, *, allow_local: bool = False) -> RepoURL:
    """`url` parsed, or `RepoURLProblem` saying why the controller will not fetch it."""
    shown = _shown(url)
    if not url or not url.strip():
        raise RepoURLProblem("repoURL is empty: set spec.source.repoURL")
    if url.startswith("-"):
        raise RepoURLProblem(f"repoURL {shown} starts with '-', which git would read as an "
                             "option; fix spec.source.repoURL")
    if has_control_characters(url):
        raise RepoURLProblem(f"repoURL {shown} holds whitespace or control characters; "
                             "remove them from spec.source.repoURL")
    match = _URL.match(url)
    if match is not None:
        return _parse_url(match, shown, allow_local)
    if _REMOTE_HELPER.match(url):
        raise RepoURLProblem(f"repoURL {shown} names a git remote helper; use an https://, "
                             "ssh:// or git:// URL")
    scp = _SCP.match(url)
    if scp is not None and "/" not in url.split(":", 1)[0]:
        return _parse_scp(scp, url, shown)
    if not allow_local:
        raise _local_refused(shown)
    return _local(url, url, shown)


def _parse_url(match: re.Match[str], shown: str, allow_local: bool) -> RepoURL:
    raw_scheme = match.group("scheme").lower()
    scheme = _SCHEME_ALIASES.get(raw_scheme, raw_scheme)
    authority, rest = match.group("authority"), match.group("rest")
    if scheme == "file":
        if not allow_local:
            raise _local_refused(shown)
        if authority not in ("", "localhost"):
            raise RepoURLProblem(f"repoURL {shown} names a file on another host; use a path")
        return _local(unquote(rest), f"file://{rest}", shown)
    if scheme not in NETWORK_SCHEMES:
        raise RepoURLProblem(f"repoURL {shown} uses the scheme '{raw_scheme}': only "
                             f"{', '.join(NETWORK_SCHEMES)} and user@host:path are allowed")
    if "?" in rest or "#" in rest:
        raise RepoURLProblem(f"repoURL {shown} has a query or fragment; remove it")
    userinfo, at, hostport = authority.rpartition("@")
    if "@" in userinfo:
        raise RepoURLProblem(f"repoURL {shown} has more than one '@' before the host")
    user, colon, password = userinfo.partition(":") if at else ("", "", "")
    host, port = host_port(hostport, scheme, shown)
    segments = _segments(rest, shown)
    if scheme in ("http", "https"):
        clean = f"{match.group('scheme')}://{hostport}{rest}"
    else:
        user_part = f"{user}@" if at else ""
        clean = f"{match.group('scheme')}://{user_part}{hostport}{rest}"
    return RepoURL(scheme=scheme, host=host, port=port, segments=segments,
                   user=unquote(user) if at else None,
                   password=unquote(password) if colon else None, clean=clean)


def _parse_scp(match: re.Match[str], url: str, shown: str) -> RepoURL:
    host = match.group("host")
    if "@" in match.group("path"):
        # `a:b@c:d` is host `a` to git and host `c` to a reader: refuse the ambiguity.
        raise RepoURLProblem(f"repoURL {shown} is ambiguous ('@' after the host); write it "
                             "as ssh://user@host/path")
    if not _HOST.match(host):
        raise RepoURLProblem(f"repoURL {shown} has an invalid host name")
    return RepoURL(scheme="ssh", host=host.lower().strip("[]"), port=None,
                   segments=_segments(match.group("path"), shown),
                   user=match.group("user"), clean=url)


def host_port(hostport: str, scheme: str, shown: str) -> tuple[str, int | None]:
    """`host[:port]` (IPv6 in brackets) as the lower-cased host and the port, None for
    `scheme`'s default; `RepoURLProblem` naming `shown` when either is unusable."""
    host, port_text = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port_text = hostport[: end + 1], hostport[end + 1:].removeprefix(":")
    elif ":" in hostport:
        host, _, port_text = hostport.partition(":")
    if not host or not _HOST.match(host):
        raise RepoURLProblem(f"repoURL {shown} has no valid host name")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RepoURLProblem(f"repoURL {shown} has an invalid port '{port_text}'")
        port = int(port_text)
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return host.lower().strip("[]"), port


def path_segments(path: str, shown: str, *, encoded_slash: bool = False) -> list[str]:
    """The non-empty segments of `path`; `RepoURLProblem` naming `shown` for a `.` or `..`
    one, percent-encoded or not (a server may decode it), or one holding an encoded `/` or
    `\\` (unless `encoded_slash`: a Helm repository URL may name a GitLab project as
    `group%2Fproject`)."""
    segments = [segment for segment in path.split("/") if segment]
    decoded = [unquote(segment) for segment in segments]
    if any(segment in (".", "..") for segment in decoded) or (not encoded_slash and any(
            "/" in segment or "\\" in segment for segment in decoded)):
        raise RepoURLProblem(f"repoURL {shown} has a '.', '..' or encoded '/' path segment; "
                             "write the path plainly")
    return segments


def _segments(path: str, shown: str) -> tuple[str, ...]:
    segments = path_segments(path, shown)
    if segments and segments[-1].lower().endswith(".git"):
        segments[-1] = segments[-1][:-4]
        if not segments[-1]:
            segments.pop()
    return tuple(segments)


def _local(path: str, clean: str, shown: str) -> RepoURL:
    resolved = PurePosixPath(path)
    if not resolved.is_absolute():
        raise RepoURLProblem(f"repoURL {shown} is a relative local path; use an absolute one")
    parts = tuple(p for p in resolved.parts[1:] if p)
    if any(p in (".", "..") for p in parts):
        raise RepoURLProblem(f"repoURL {shown} has a '.' or '..' path segment")
    return RepoURL(scheme="file", host="", port=None, segments=parts, clean=clean)


def _local_refused(shown: str) -> RepoURLProblem:
    return RepoURLProblem(
        f"repoURL {shown} is a local path: reading the controller's own disk is refused; "
        f"set {ALLOW_LOCAL_FLAG} on the controller to permit it")


def has_control_characters(text: str) -> bool:
    """Whitespace or control characters, which no repository URL may hold."""
    return _CONTROL.search(text) is not None


def shown_url(url: str) -> str:
    """`url` for a message: no userinfo password, control characters escaped, at most 200
    characters."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", redact_url(url))
    return text if len(text) <= 200 else text[:197] + "..."


def _shown(url: str) -> str:
    return f"'{shown_url(url)}'"
