"""Where a chart comes from: a Helm repository over HTTP(S) or an OCI registry.

An Application's `repoURL` for a chart is one of (Argo CD's forms):

    https://charts.example.com/stable        an HTTP(S) Helm repository (its index.yaml)
    oci://registry.example.com/charts        an OCI registry; the chart is charts/<chart>
    registry.example.com/charts              the same, as Argo CD writes it (no scheme)
    https://registry.example.com/charts      an OCI registry when the repository Secret
                                             says `enableOCI: "true"`

`chart_repository(repo_url, enable_oci=...)` reads it into a `ChartRepository`, refusing
anything else with a one-line `ChartURLProblem` (other schemes, userinfo, queries and
fragments on OCI addresses, `.`/`..` segments, control characters). `index_url` and
`chart_url` place `index.yaml` and a chart archive the way Helm does: relative archive
URLs are resolved against the repository URL (with a `/` added), absolute ones are
taken as they are but only with http or https. `same_origin` says whether credentials
may travel to a URL: Helm sends them only to the repository's own scheme, host and port
(Argo CD's `passCredentials` is not implemented).

Plain HTTP to an OCI registry is allowed only for a registry on this machine (localhost,
127.0.0.0/8, ::1) or when the repository Secret says `insecure`: `oci_schemes` lists
what to try, in order (https first, falling back to http where allowed; http only with
`insecureOCIForceHttp` or an `http://` URL). Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from reconciler.source_url import (
    RepoURLProblem,
    has_control_characters,
    host_port,
    path_segments,
)
from reconciler.source_url import shown_url as shown

__all__ = [
    "ChartRepository",
    "ChartURLProblem",
    "chart_repository",
    "chart_url",
    "index_url",
    "is_local_host",
    "oci_schemes",
    "origin",
    "same_origin",
    "shown",
]

_OCI_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ChartURLProblem(ValueError):
    """A chart repository URL the controller will not use; one line, safe to show."""


@dataclass(frozen=True)
class ChartRepository:
    """A parsed chart source: `kind` is `http` (index.yaml) or `oci` (a registry)."""

    kind: str
    url: str
    """http: the repository URL without userinfo. oci: `host[:port]/path` (no scheme)."""
    host: str
    port: int | None
    path: str
    """oci: the repository path under the registry (may be empty); http: the URL path."""
    scheme: str = "https"
    """http: the URL's scheme; oci: the scheme written, `oci` or `https`/`http`."""

    @property
    def authority(self) -> str:
        port = self.port if self.port is not None else _DEFAULT_PORTS.get(self.scheme, 443)
        return f"{self.host}:{port}"

    def cache_key(self) -> str:
        """One key per repository (host case, trailing `/` and default ports ignored)."""
        port = f":{self.port}" if self.port is not None else ""
        scheme = self.scheme if self.kind == "http" else "oci"
        return f"{scheme}://{self.host}{port}/{self.path.strip('/')}"

    def oci_name(self, chart: str) -> str:
        """The registry repository holding `chart` (`charts/mychart`), checked."""
        name = "/".join(part for part in (self.path.strip("/"), chart.strip("/")) if part)
        if not name or not all(_OCI_NAME.match(part) for part in name.split("/")):
            raise ChartURLProblem(
                f"'{name}' is not a valid OCI repository name (lower-case letters, digits "
                "and . _ - separated by /); check spec.source.repoURL and chart")
        return name


def chart_repository(repo_url: str, *, enable_oci: bool = False) -> ChartRepository:
    """`repo_url` read as a chart source (see the module docstring)."""
    text = repo_url.strip()
    if not text:
        raise ChartURLProblem("spec.source.repoURL is empty: set the Helm repository URL")
    if has_control_characters(text):
        raise ChartURLProblem(f"repoURL '{shown(text)}' holds whitespace or control "
                              "characters; remove them")
    if "://" not in text:
        return _oci(text, "oci", text)
    scheme = text.split("://", 1)[0].lower()
    if scheme == "oci":
        return _oci(text.split("://", 1)[1], "oci", text)
    if scheme not in ("http", "https"):
        raise ChartURLProblem(f"repoURL '{shown(text)}' uses the scheme '{scheme}': a Helm "
                              "repository is http(s)://..., an OCI registry oci://...")
    if enable_oci:
        return _oci(text.split("://", 1)[1], scheme, text)
    parts = urlsplit(text)
    host, port = _host_port(parts.netloc.rpartition("@")[2], scheme, text)
    _check_segments(parts.path, text)
    clean = urlunsplit((scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))
    return ChartRepository("http", clean, host, port, parts.path, scheme)


def _oci(rest: str, scheme: str, original: str) -> ChartRepository:
    if "@" in rest.split("/", 1)[0]:
        raise ChartURLProblem(f"repoURL '{shown(original)}' carries credentials; put them in "
                              "a repository Secret")
    if "?" in rest or "#" in rest:
        raise ChartURLProblem(f"repoURL '{shown(original)}' has a query or fragment; "
                              "remove it")
    authority, _, path = rest.partition("/")
    host, port = _host_port(authority, "https", original)
    _check_segments(path, original)
    path = path.strip("/")
    url = f"{authority.lower()}/{path}" if path else authority.lower()
    return ChartRepository("oci", url.rstrip("/"), host, port, path, scheme)


def _host_port(authority: str, scheme: str, original: str) -> tuple[str, int | None]:
    try:
        return host_port(authority, scheme, f"'{shown(original)}'")
    except RepoURLProblem as problem:
        raise ChartURLProblem(str(problem)) from None


def _check_segments(path: str, original: str) -> None:
    """Git's rule: no `.`/`..` segment, percent-encoded or not (an encoded `/` is
    allowed: GitLab's Helm repositories are `.../projects/group%2Fproject/...`)."""
    try:
        path_segments(path, f"'{shown(original)}'", encoded_slash=True)
    except RepoURLProblem as problem:
        raise ChartURLProblem(str(problem)) from None


def index_url(repo: ChartRepository) -> str:
    """`<repository URL>/index.yaml` (Helm's `path.Join`: one `/`, query kept)."""
    parts = urlsplit(repo.url)
    path = parts.path.rstrip("/") + "/index.yaml"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def chart_url(repo: ChartRepository, listed: str) -> str:
    """The archive URL an index entry lists, resolved as Helm does; `ChartURLProblem`
    for a scheme other than http(s) or an unusable URL."""
    if has_control_characters(listed) or not listed:
        raise ChartURLProblem(f"the index lists a chart URL '{shown(listed)}' that is empty or "
                              "holds whitespace")
    parts = urlsplit(listed)
    if parts.scheme:
        if parts.scheme.lower() not in ("http", "https"):
            raise ChartURLProblem(f"the index lists the chart URL '{shown(listed)}': only "
                                  "http(s) URLs are fetched")
        if not parts.hostname:
            raise ChartURLProblem(f"the index lists the chart URL '{shown(listed)}' without "
                                  "a host")
        return listed
    base = urlsplit(repo.url)
    directory = urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + "/", "", ""))
    resolved = urlsplit(urljoin(directory, listed))
    return urlunsplit((resolved.scheme, resolved.netloc, resolved.path,
                       resolved.query or base.query, ""))


def origin(url: str) -> tuple[str, str, int | None] | None:
    """`url`'s scheme, host and port (the scheme's default spelled out), lower-cased;
    None when its port is unusable. Two URLs with one origin may share credentials."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port if parts.port is not None else _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    return scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, repo: ChartRepository) -> bool:
    """Whether `url` is on the repository's scheme, host and port (credentials may go)."""
    repo_port = repo.port if repo.port is not None else _DEFAULT_PORTS.get(repo.scheme)
    return origin(url) == (repo.scheme, repo.host, repo_port)


def is_local_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: a registry on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def oci_schemes(repo: ChartRepository, *, insecure: bool, force_http: bool) -> tuple[str, ...]:
    """The schemes to try for an OCI registry, in order (see the module docstring)."""
    if repo.scheme == "http" or force_http:
        if insecure or is_local_host(repo.host):
            return ("http",)
        raise ChartURLProblem(
            f"repoURL '{shown(repo.url)}' asks for plain HTTP to a registry that is not on "
            "this machine; set insecure: \"true\" in its repository Secret to allow it")
    if insecure or is_local_host(repo.host):
        return ("https", "http")
    return ("https",)
