"""A Helm repository over HTTPS that asks for a client certificate (mutual TLS): the
repository Secret's tlsClientCertData / tlsClientCertKey are presented, and `insecure`
is what lets a certificate no system CA signed through. Certificates come from openssl."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.charts import ChartSource, HelmCredentials
from reconciler.source_git import SourceError

INDEX = b"apiVersion: v1\nentries:\n  web:\n  - version: 1.4.0\n    urls: [web-1.4.0.tgz]\n"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def certificates(directory: Path) -> None:
    """ca.pem, server.pem/key (for 127.0.0.1), client.pem/key, all signed by ca."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1"),
                            ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=directory)


@pytest.fixture
def https_repo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    certificates(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = INDEX if self.path == "/index.yaml" else b"no"
            self.send_response(200 if self.path == "/index.yaml" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.load_verify_locations(tmp_path / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED  # a client certificate or no answer
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


def test_the_client_certificate_from_the_secret_opens_the_repository(
        https_repo: tuple[str, Path]) -> None:
    url, certs = https_repo
    creds = HelmCredentials(tls_client_cert_data=(certs / "client.pem").read_text(),
                            tls_client_cert_key=(certs / "client.key").read_text(),
                            insecure=True)
    assert ChartSource(certs / "cache", timeout=10).resolve(url, "web", "1.x", creds) == "1.4.0"


def test_without_a_client_certificate_the_repository_stays_shut(
        https_repo: tuple[str, Path]) -> None:
    url, certs = https_repo
    with pytest.raises(SourceError, match=r"could not be fetched|TLS failed"):
        ChartSource(certs / "cache", timeout=10).resolve(url, "web", "1.x",
                                                         HelmCredentials(insecure=True))


def test_an_untrusted_server_certificate_is_refused_unless_insecure(
        https_repo: tuple[str, Path]) -> None:
    url, certs = https_repo
    creds = HelmCredentials(tls_client_cert_data=(certs / "client.pem").read_text(),
                            tls_client_cert_key=(certs / "client.key").read_text())
    with pytest.raises(SourceError, match=r"certificate is not trusted.*insecure") as raised:
        ChartSource(certs / "cache", timeout=10).resolve(url, "web", "1.x", creds)
    assert "PRIVATE KEY" not in str(raised.value)


def test_a_key_that_is_not_pem_is_named_without_showing_it(tmp_path: Path) -> None:
    creds = HelmCredentials(tls_client_cert_data="not a cert", tls_client_cert_key="s3cret-key")
    with pytest.raises(SourceError, match="tlsClientCertData / tlsClientCertKey are not") as e:
        ChartSource(tmp_path, timeout=5).resolve("https://127.0.0.1:9/x", "web", "1.x", creds)
    assert "s3cret" not in str(e.value)
