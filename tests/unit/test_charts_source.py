"""ChartSource against HTTP servers in this process: listings, caching, digests, limits,
and where credentials go. (The real `helm package` / `helm repo index` / registry path is
tests/integration/test_helm_repositories.py.)"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.charts import ChartSource, HelmCredentials
from reconciler.source_git import SourceError

Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class Server:
    """A tiny HTTP server: `routes[path] -> (status, headers, body)`, requests recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                route = owner.routes.get(self.path.split("?")[0])
                status, headers, body = route(self) if route else (404, {}, b"no")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def serve(self, path: str, body: bytes, status: int = 200,
              headers: dict[str, str] | None = None) -> None:
        self.routes[path] = lambda _handler: (status, headers or {}, body)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


@pytest.fixture
def other() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def chart_tgz(version: str, value: str = "a") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in (("web/Chart.yaml", f"apiVersion: v2\nname: web\nversion: {version}\n"),
                           ("web/values.yaml", f"value: {value}\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def index(*entries: tuple[str, str, str | None]) -> bytes:
    lines = ["apiVersion: v1", "entries:", "  web:"]
    for version, url, digest in entries:
        lines += [f"  - version: {version}", f"    urls: [{url}]"]
        if digest:
            lines.append(f"    digest: {digest}")
    return ("\n".join(lines) + "\n").encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source(tmp_path: Path, **options: object) -> ChartSource:
    return ChartSource(tmp_path / "charts", timeout=10, **options)  # type: ignore[arg-type]


class TestResolve:
    def test_a_constraint_picks_from_the_index_and_the_listing_is_kept(
            self, tmp_path: Path, server: Server) -> None:
        server.serve("/repo/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None),
                                               ("1.1.0", "web-1.1.0.tgz", None),
                                               ("2.0.0", "web-2.0.0.tgz", None)))
        charts = source(tmp_path)
        assert charts.resolve(f"{server.url}/repo", "web", "1.x") == "1.1.0"
        assert charts.resolve(f"{server.url}/repo/", "web", "*") == "2.0.0"
        assert charts.listing_count == 1  # one index download for both
        server.serve("/repo/index.yaml", index(("1.2.0", "web-1.2.0.tgz", None)))
        assert charts.resolve(f"{server.url}/repo", "web", "1.x") == "1.1.0"  # within the TTL
        assert charts.resolve(f"{server.url}/repo", "web", "1.x", max_age=0) == "1.2.0"

    def test_a_pin_needs_no_network(self, tmp_path: Path) -> None:
        charts = source(tmp_path)
        assert charts.resolve("https://charts.invalid/repo", "web", "1.2.3") == "1.2.3"
        assert charts.listing_count == 0

    @pytest.mark.parametrize(("revision", "message"), [
        ("", "targetRevision must be a chart version or a constraint"),
        ("HEAD", "targetRevision must be a chart version or a constraint"),
        ("3.x", "no version matches '3.x'"),
    ])
    def test_unusable_revisions_are_one_line_errors(self, tmp_path: Path, server: Server,
                                                    revision: str, message: str) -> None:
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None)))
        with pytest.raises(SourceError, match=message) as raised:
            source(tmp_path).resolve(server.url, "web", revision)
        assert raised.value.message.startswith(f"chart 'web' from {server.url}: ")

    def test_a_missing_index_says_so(self, tmp_path: Path, server: Server) -> None:
        with pytest.raises(SourceError, match=r"there is no index\.yaml at .*/nothing/index\.yaml"):
            source(tmp_path).resolve(f"{server.url}/nothing", "web", "1.x")

    def test_an_oversized_index_is_refused(self, tmp_path: Path, server: Server) -> None:
        server.serve("/index.yaml", b"entries: {}\n" + b"#" * 5000)
        with pytest.raises(SourceError, match="more than the limit of 1000"):
            source(tmp_path, max_index_bytes=1000).resolve(server.url, "web", "1.x")


class TestFetch:
    def test_the_archive_is_downloaded_once_and_unpacked(self, tmp_path: Path,
                                                         server: Server) -> None:
        archive = chart_tgz("1.0.0")
        server.serve("/index.yaml", index(("1.0.0", "charts/web-1.0.0.tgz", sha(archive))))
        server.serve("/charts/web-1.0.0.tgz", archive)
        charts = source(tmp_path)
        first = charts.fetch(server.url, "web", "1.0.0")
        again = charts.fetch(server.url + "/", "web", "1.0.0")
        assert first == again and (first / "values.yaml").read_text() == "value: a\n"
        assert charts.download_count == 1
        assert not [p for p in (tmp_path / "charts").iterdir() if p.name.startswith(".partial")]

    def test_a_digest_mismatch_is_refused_and_nothing_is_kept(self, tmp_path: Path,
                                                              server: Server) -> None:
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", "0" * 64)))
        server.serve("/web-1.0.0.tgz", chart_tgz("1.0.0"))
        with pytest.raises(SourceError, match="does not match the digest"):
            source(tmp_path).fetch(server.url, "web", "1.0.0")
        assert not list((tmp_path / "charts").glob("*/chart"))

    def test_a_hostile_archive_leaves_nothing_behind(self, tmp_path: Path,
                                                     server: Server) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            link = tarfile.TarInfo("web/evil")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc"
            tar.addfile(link)
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None)))
        server.serve("/web-1.0.0.tgz", buffer.getvalue())
        with pytest.raises(SourceError, match="a link 'web/evil'"):
            source(tmp_path).fetch(server.url, "web", "1.0.0")
        assert list((tmp_path / "charts").iterdir()) == []

    def test_an_oversized_archive_is_refused(self, tmp_path: Path, server: Server) -> None:
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None)))
        server.serve("/web-1.0.0.tgz", b"x" * 5000)
        with pytest.raises(SourceError, match="more than the limit of 4000"):
            source(tmp_path, max_archive_bytes=4000).fetch(server.url, "web", "1.0.0")

    def test_a_version_published_after_the_listing_is_found(self, tmp_path: Path,
                                                            server: Server) -> None:
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None)))
        charts = source(tmp_path)
        charts.resolve(server.url, "web", "1.x")
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None),
                                          ("1.1.0", "web-1.1.0.tgz", None)))
        server.serve("/web-1.1.0.tgz", chart_tgz("1.1.0"))
        assert (charts.fetch(server.url, "web", "1.1.0") / "Chart.yaml").is_file()


class TestCredentials:
    def test_basic_auth_goes_to_the_repository_but_never_to_another_host(
            self, tmp_path: Path, server: Server, other: Server) -> None:
        archive = chart_tgz("1.0.0")
        server.serve("/index.yaml", index(("1.0.0", f"{other.url}/web-1.0.0.tgz", None)))
        other.serve("/web-1.0.0.tgz", archive)
        creds = HelmCredentials(username="deploy", password="s3cret-token")
        source(tmp_path).fetch(server.url, "web", "1.0.0", creds)
        expected = "Basic " + base64.b64encode(b"deploy:s3cret-token").decode()
        assert server.requests == [("/index.yaml", expected)]
        assert other.requests == [("/web-1.0.0.tgz", None)]

    def test_a_redirect_to_another_host_drops_the_credentials(
            self, tmp_path: Path, server: Server, other: Server) -> None:
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None)))
        server.serve("/web-1.0.0.tgz", b"", 302, {"Location": f"{other.url}/blob"})
        other.serve("/blob", chart_tgz("1.0.0"))
        creds = HelmCredentials(username="deploy", password="s3cret-token")
        source(tmp_path).fetch(server.url, "web", "1.0.0", creds)
        assert [auth is not None for _, auth in server.requests] == [True, True]
        assert other.requests == [("/blob", None)]

    def test_refused_credentials_are_named_without_the_secret(self, tmp_path: Path,
                                                              server: Server) -> None:
        server.serve("/index.yaml", b"denied s3cret-token", 401)
        creds = HelmCredentials(username="deploy", password="s3cret-token")
        with pytest.raises(SourceError) as raised:
            source(tmp_path).resolve(server.url, "web", "1.x", creds)
        assert "answered 401; check username and password" in str(raised.value)
        assert "s3cret" not in str(raised.value)
        assert "s3cret" not in repr(creds)

    def test_redirect_loops_and_other_schemes_stop(self, tmp_path: Path,
                                                   server: Server) -> None:
        server.serve("/index.yaml", b"", 302, {"Location": "/index.yaml"})
        with pytest.raises(SourceError, match="redirected more than 5 times"):
            source(tmp_path).resolve(server.url, "web", "1.x")
        server.serve("/index.yaml", b"", 302, {"Location": "file:///etc/passwd"})
        with pytest.raises(SourceError, match="only http\\(s\\) URLs are fetched"):
            source(tmp_path).resolve(server.url, "web", "1.x", max_age=0)


class TestAppSources:
    """The Application controller's seam: a `chart:` source polls versions and renders
    the chart with its helm options (our built helm)."""

    def test_an_app_with_a_chart_is_polled_and_rendered(self, tmp_path: Path,
                                                        server: Server) -> None:
        from datetime import UTC, datetime

        from reconciler.app_source import AppSources
        from reconciler.source import GitSource
        from rollouts.api.application import Application

        template = io.BytesIO()
        with tarfile.open(fileobj=template, mode="w:gz") as tar:
            for name, text in (("web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.1.0\n"),
                               ("web/values.yaml", "value: from-values\n"),
                               ("web/templates/cm.yaml",
                                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                "  name: {{ .Release.Name }}\ndata:\n"
                                "  value: {{ .Values.value | quote }}\n")):
                info = tarfile.TarInfo(name)
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text.encode()))
        server.serve("/index.yaml", index(("1.0.0", "web-1.0.0.tgz", None),
                                          ("1.1.0", "web-1.1.0.tgz", None)))
        server.serve("/web-1.1.0.tgz", template.getvalue())
        sources = AppSources(GitSource(tmp_path / "git"), lambda _ns: [], resync=60,
                             charts=source(tmp_path))
        app = Application.model_validate({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "apps"},
            "spec": {"project": "default", "destination": {"namespace": "web"},
                     "source": {"repoURL": server.url, "chart": "web",
                                "targetRevision": ">=1.0 <2",
                                "helm": {"parameters": [{"name": "value", "value": "set"}]}}}})
        target = sources.target("apps/shop", app, "apps", datetime(2026, 1, 1, tzinfo=UTC))
        assert (target.revision, target.error) == ("1.1.0", None)
        rendered = sources.render(app, app_name="shop", app_namespace="apps",
                                  revision="1.1.0")
        assert rendered.source_type == "Helm"
        assert [(o["metadata"]["name"], o["data"]) for o in rendered.objects] == [
            ("shop", {"value": "set"})]
        assert sources.resolve(app, "apps", "1.0.0") == "1.0.0"


class TestSlowServers:
    def test_a_server_that_stalls_is_given_up_on_at_the_deadline(self, tmp_path: Path,
                                                                 server: Server) -> None:
        import time

        def stall(_handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
            time.sleep(3)
            return 200, {}, b"entries: {}\n"

        server.routes["/index.yaml"] = stall
        started = time.monotonic()
        with pytest.raises(SourceError, match="did not answer in time") as raised:
            ChartSource(tmp_path, timeout=0.5).resolve(server.url, "web", "1.x")
        assert time.monotonic() - started < 2.5
        assert raised.value.temporary
