"""Charts from an OCI registry speaking the distribution API (a fake one in this process:
token authentication, tag paging, digests; the real docker-registry is in
tests/integration/test_helm_repositories.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from reconciler.charts import ChartSource, HelmCredentials
from reconciler.source_git import SourceError
from tests.unit.test_charts_source import Route, Server, chart_tgz

LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
TOKEN = "registry-token-123"


class Registry:
    """`Server` routes for one repository `charts/web`, behind a Bearer token."""

    def __init__(self, server: Server, tags: list[str], *, user: str = "u",
                 password: str = "p") -> None:
        self.server = server
        self.manifests: dict[str, bytes] = {}
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        realm = f"{server.url}/token"

        def guarded(body: bytes, content_type: str = "application/json", status: int = 200,
                    headers: dict[str, str] | None = None) -> Route:
            def route(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
                if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return 401, {"WWW-Authenticate": f'Bearer realm="{realm}",'
                                 'service="fake",scope="repository:charts/web:pull"'}, b"{}"
                return status, {"Content-Type": content_type, **(headers or {})}, body
            return route

        def token(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
            if handler.headers.get("Authorization") != basic:
                return 401, {}, b"{}"
            return 200, {}, json.dumps({"token": TOKEN}).encode()

        server.routes["/token"] = token
        half = len(tags) // 2
        page2 = "/v2/charts/web/tags/list?n=1000&last=x"
        server.routes["/v2/charts/web/tags/list"] = lambda h: guarded(
            json.dumps({"tags": tags[half:]}).encode())(h) if "last=" in h.path else guarded(
            json.dumps({"tags": tags[:half]}).encode(),
            headers={"Link": f'<{page2}>; rel="next"'})(h)
        self.guarded = guarded

    def push(self, version: str, archive: bytes, *, digest: str | None = None) -> None:
        real = hashlib.sha256(archive).hexdigest()
        self.server.routes[f"/v2/charts/web/blobs/sha256:{real}"] = self.guarded(
            archive, "application/octet-stream")
        manifest = {"schemaVersion": 2, "layers": [
            {"mediaType": LAYER, "digest": f"sha256:{digest or real}", "size": len(archive)}]}
        tag = version.replace("+", "_")
        self.server.routes[f"/v2/charts/web/manifests/{tag}"] = self.guarded(
            json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


CREDS = HelmCredentials(username="u", password="p")


def test_a_constraint_is_matched_against_every_page_of_tags(tmp_path: Path,
                                                            server: Server) -> None:
    Registry(server, ["1.0.0", "1.1.0+build.2", "1.2.0-rc.1", "2.0.0"])
    charts = ChartSource(tmp_path, timeout=10)
    repo = f"oci://{server.url.removeprefix('http://')}/charts"
    assert charts.resolve(repo, "web", "1.x", CREDS) == "1.1.0+build.2"
    assert charts.resolve(repo, "web", ">=2.0.0-0", CREDS) == "2.0.0"


def test_the_chart_layer_is_fetched_and_checked(tmp_path: Path, server: Server) -> None:
    registry = Registry(server, ["1.1.0+build.2"])
    registry.push("1.1.0+build.2", chart_tgz("1.1.0+build.2", "from-oci"))
    charts = ChartSource(tmp_path, timeout=10)
    chart = charts.fetch(server.url.removeprefix("http://") + "/charts", "web",
                         "1.1.0+build.2", CREDS)
    assert (chart / "values.yaml").read_text() == "value: from-oci\n"
    # The Bearer token went to the registry, the username and password to the realm only.
    auths = {path.split("?")[0]: auth for path, auth in server.requests}
    assert (auths["/token"] or "").startswith("Basic ")
    assert auths["/v2/charts/web/manifests/1.1.0_build.2"] == f"Bearer {TOKEN}"


def test_a_layer_that_is_not_its_digest_is_refused(tmp_path: Path, server: Server) -> None:
    registry = Registry(server, ["1.0.0"])
    archive = chart_tgz("1.0.0")
    registry.push("1.0.0", archive, digest=hashlib.sha256(b"other").hexdigest())
    server.routes[f"/v2/charts/web/blobs/sha256:{hashlib.sha256(b'other').hexdigest()}"] = \
        registry.guarded(archive, "application/octet-stream")
    with pytest.raises(SourceError, match="does not match its digest"):
        ChartSource(tmp_path, timeout=10).fetch(f"oci://{server.url[7:]}/charts", "web",
                                                "1.0.0", CREDS)


def test_wrong_credentials_and_missing_versions_are_one_line_errors(
        tmp_path: Path, server: Server) -> None:
    Registry(server, ["1.0.0"])
    repo = f"oci://{server.url[7:]}/charts"
    with pytest.raises(SourceError, match="refused the credentials") as raised:
        ChartSource(tmp_path, timeout=10).resolve(
            repo, "web", "1.x", HelmCredentials(username="u", password="wrong-pass"))
    assert "wrong-pass" not in str(raised.value)
    with pytest.raises(SourceError, match=r"has no version '9\.9\.9'"):
        ChartSource(tmp_path, timeout=10).fetch(repo, "web", "9.9.9", CREDS)


def test_plain_http_is_refused_for_a_registry_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="plain HTTP to a registry that is not on this"):
        ChartSource(tmp_path, timeout=5).resolve(
            "http://registry.invalid/charts", "web", "1.x",
            HelmCredentials(enable_oci=True))


def test_the_token_realm_gets_the_credentials_but_not_a_redirect_elsewhere(
        tmp_path: Path, server: Server) -> None:
    Registry(server, ["1.0.0"])
    elsewhere = Server()
    try:
        elsewhere.serve("/token", json.dumps({"token": TOKEN}).encode())
        server.routes["/token"] = lambda h: (302, {"Location": elsewhere.url + h.path}, b"")
        assert ChartSource(tmp_path, timeout=10).resolve(
            f"oci://{server.url[7:]}/charts", "web", "1.x", CREDS) == "1.0.0"
        # The realm the registry named was asked with the credentials; the host it
        # redirected to was asked without them.
        assert [auth for path, auth in server.requests if path.startswith("/token")] == [
            "Basic " + base64.b64encode(b"u:p").decode()]
        assert [auth for _path, auth in elsewhere.requests] == [None]
    finally:
        elsewhere.close()
