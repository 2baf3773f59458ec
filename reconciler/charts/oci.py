"""Charts from OCI registries, through the distribution API (what `helm push` writes).

A chart `mychart` under `oci://registry.example.com/charts` is the registry repository
`charts/mychart`; version `1.2.3+build` is its tag `1.2.3_build` (OCI tags cannot hold
`+`, so Helm writes `_`). `OciRegistry`:

- `tags(name)`: `GET /v2/<name>/tags/list` (paged by `Link`, bounded in pages and bytes),
  with `_` turned back into `+`: the versions a constraint is matched against (Argo CD
  lists tags the same way);
- `chart_archive(name, version)`: the manifest (`GET /v2/<name>/manifests/<tag>`), then
  its one Helm chart layer (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`) as a
  blob, refused when larger than `max_bytes` or when its sha256 is not the digest the
  manifest names.

Why the API and not `helm pull`: every byte goes through the same bounds as an HTTP
repository (size, time, redirects, where credentials may go), plain HTTP is our decision
(`urls.oci_schemes`: only for a registry on this machine or a Secret saying `insecure`),
credentials never touch a registry config file on disk, and listing tags for a
constraint needs the API anyway.

Authentication as registries ask for it: a 401 with `WWW-Authenticate: Bearer realm=...`
gets a pull token from the realm (with the Secret's username and password when there
are some), `Basic` gets the username and password. Credentials go to the registry's
origin and its token realm only; a blob redirected to a storage host gets none.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from reconciler.charts.creds import HelmCredentials
from reconciler.charts.transport import FetchProblem, Response, get, tls_context, where
from reconciler.charts.urls import ChartRepository, is_local_host, oci_schemes, origin

__all__ = ["HELM_LAYER_TYPES", "MAX_TAG_PAGES", "OciRegistry", "version_tag"]

HELM_LAYER_TYPES = ("application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "application/tar+gzip")
MAX_TAG_PAGES = 20
_MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
_MAX_JSON_BYTES = 4 * 1024 * 1024
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def version_tag(version: str) -> str:
    """The OCI tag of a chart version (`+` becomes `_`); `FetchProblem` if unusable."""
    tag = version.replace("+", "_")
    if not _TAG.match(tag):
        raise FetchProblem(f"version {version[:80]!r} cannot be an OCI tag", temporary=False)
    return tag


class OciRegistry:
    """One registry, for one fetch (see the module docstring)."""

    def __init__(self, repo: ChartRepository, credentials: HelmCredentials | None, *,
                 deadline: float, schemes_seen: MutableMapping[str, str]) -> None:
        self.repo = repo
        self.credentials = credentials or HelmCredentials()
        self.deadline = deadline
        self._schemes_seen = schemes_seen
        self._context: ssl.SSLContext = tls_context(credentials)
        self._authorization: str | None = None
        self._schemes = oci_schemes(repo, insecure=self.credentials.insecure,
                                    force_http=self.credentials.force_http)

    # -- what the chart source asks -------------------------------------------------------

    def tags(self, name: str) -> list[str]:
        """Every tag of `name` as a version (`_` read back as `+`)."""
        found: list[str] = []
        path: str | None = f"/v2/{name}/tags/list?n=1000"
        for _ in range(MAX_TAG_PAGES):
            if path is None:
                break
            response = self._get(path, name, "application/json", _MAX_JSON_BYTES)
            if response.status == 404:
                raise FetchProblem(f"no chart '{name}' in the OCI registry {self.repo.host}",
                                   temporary=False)
            self._check(response, name)
            document = _json(response, "the tag list")
            tags = document.get("tags") if isinstance(document, dict) else None
            found += [tag.replace("_", "+") for tag in tags or [] if isinstance(tag, str)]
            link = _NEXT.search(response.headers.get("link", ""))
            path = _same_registry_path(link.group(1)) if link else None
        return found

    def chart_archive(self, name: str, version: str, max_bytes: int) -> bytes:
        """The chart layer of `name` at `version`, checked against its digest."""
        tag = version_tag(version)
        response = self._get(f"/v2/{name}/manifests/{tag}", name, _MANIFEST_TYPES,
                             _MAX_JSON_BYTES)
        if response.status == 404:
            raise FetchProblem(f"chart '{name}' has no version {version!r} in the OCI "
                               f"registry {self.repo.host}", temporary=False)
        self._check(response, name)
        digest, size = _chart_layer(_json(response, "the manifest"), name, version)
        if size > max_bytes:
            raise FetchProblem(f"chart '{name}' {version} is {size} bytes, more than the "
                               f"limit of {max_bytes}; refused", temporary=False)
        blob = self._get(f"/v2/{name}/blobs/sha256:{digest}", name, "*/*", max_bytes)
        self._check(blob, name)
        if hashlib.sha256(blob.body).hexdigest() != digest:
            raise FetchProblem(f"chart '{name}' {version}: the layer's content does not match "
                               "its digest; refused", temporary=True)
        return blob.body

    # -- requests ------------------------------------------------------------------------

    def _get(self, path: str, name: str, accept: str, max_bytes: int) -> Response:
        response = self._send(path, accept, max_bytes)
        if response.status == 401 and self._authorization is None:
            self._authorization = self._authorize(response, name)
            if self._authorization is not None:
                response = self._send(path, accept, max_bytes)
        return response

    def _send(self, path: str, accept: str, max_bytes: int) -> Response:
        host = f"[{self.repo.host}]" if ":" in self.repo.host else self.repo.host
        if self.repo.port is not None:
            host += f":{self.repo.port}"
        remembered = self._schemes_seen.get(self.repo.authority)
        schemes = (remembered,) if remembered in self._schemes else self._schemes
        last: FetchProblem | None = None
        for scheme in schemes:
            url = f"{scheme}://{host}{path}"
            try:
                response = get(url, deadline=self.deadline, max_bytes=max_bytes,
                               context=self._context, headers={"Accept": accept},
                               authorization=self._authorization,
                               send_auth=self._is_registry,
                               allow_http=self._plain_allowed)
            except FetchProblem as problem:
                if problem.tls_failed and scheme == "https" and "http" in schemes:
                    last = problem
                    continue  # a plain-HTTP registry on this machine (or an insecure one)
                raise
            self._schemes_seen[self.repo.authority] = scheme
            return response
        assert last is not None
        raise last

    def _plain_allowed(self, url: str) -> bool:
        return self.credentials.insecure or is_local_host(urlsplit(url).hostname or "")

    def _is_registry(self, url: str) -> bool:
        """`url` is on the registry's host and port, by a scheme it is tried with."""
        host = f"[{self.repo.host}]" if ":" in self.repo.host else self.repo.host
        port = f":{self.repo.port}" if self.repo.port is not None else ""
        found = origin(url)
        return found is not None and any(found == origin(f"{scheme}://{host}{port}/")
                                         for scheme in self._schemes)

    def _authorize(self, response: Response, name: str) -> str | None:
        challenge = response.headers.get("www-authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            return self.credentials.basic_authorization()
        if scheme != "bearer":
            return None
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchProblem(f"the OCI registry {self.repo.host} names an unusable token "
                               "service", temporary=False)
        query = {key: params[key] for key in ("service",) if key in params}
        query["scope"] = params.get("scope") or f"repository:{name}:pull"
        token_url = f"{realm}{'&' if parts.query else '?'}{urlencode(query)}"
        plain_ok = is_local_host(parts.hostname) or self.credentials.insecure
        realm_origin = origin(realm)

        def to_realm(url: str) -> bool:
            # The realm the registry named gets the credentials (that is the protocol),
            # over TLS unless plain is allowed; a redirect to another origin gets none.
            return origin(url) == realm_origin and (urlsplit(url).scheme == "https"
                                                    or plain_ok)

        token = get(token_url, deadline=self.deadline, max_bytes=_MAX_JSON_BYTES,
                    context=self._context, authorization=self.credentials.basic_authorization(),
                    send_auth=to_realm, allow_http=lambda _u: plain_ok)
        if token.status in (401, 403):
            raise FetchProblem(f"the OCI registry {self.repo.host} refused the credentials "
                               "(check username and password in the repository Secret)",
                               temporary=False)
        if token.status != 200:
            raise FetchProblem(f"the token service of {self.repo.host} answered "
                               f"{token.status}", temporary=token.status >= 500)
        document = _json(token, "the token answer")
        value = document.get("token") or document.get("access_token") \
            if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise FetchProblem(f"the token service of {self.repo.host} gave no token",
                               temporary=True)
        return f"Bearer {value}"

    def _check(self, response: Response, name: str) -> None:
        if response.status == 200:
            return
        if response.status in (401, 403):
            hint = "check username and password in the repository Secret" if \
                self.credentials.has_basic_auth else "add a repository Secret with credentials"
            raise FetchProblem(f"the OCI registry {self.repo.host} denied access to '{name}' "
                               f"({response.status}); {hint}", temporary=False)
        raise FetchProblem(f"{where(response.url)} answered {response.status}",
                           temporary=response.status >= 500 or response.status == 429)


def _same_registry_path(link: str) -> str | None:
    """A `Link: <...>; rel=next` target as a path on the same registry (else None)."""
    parts = urlsplit(urljoin("https://registry.invalid/", link))
    if parts.hostname != "registry.invalid" or not parts.path.startswith("/v2/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _json(response: Response, what: str) -> Any:
    try:
        return json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        raise FetchProblem(f"{what} from {where(response.url)} is not JSON",
                           temporary=False) from None


def _chart_layer(manifest: Any, name: str, version: str) -> tuple[str, int]:
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict) or layer.get("mediaType") not in HELM_LAYER_TYPES:
            continue
        found = _DIGEST.match(str(layer.get("digest") or ""))
        size = layer.get("size")
        if found is None or not isinstance(size, int) or size < 0:
            break
        return found.group(1), size
    raise FetchProblem(f"'{name}' {version} in the OCI registry is not a Helm chart (no "
                       "chart layer with a sha256 digest)", temporary=False)
