"""The provider transport's TLS context is made once per process and shared: a measurement
must not pay for loading the system's certificate authorities (about 40 ms of CPU), and
sharing it must not let one metric's `insecure: true` weaken another metric's checks."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from analysis.providers import transport
from analysis.providers.egress import EgressPolicy
from analysis.providers.transport import HttpRequest, TransportError, exchange

OPEN = EgressPolicy.from_networks([])  # loopback allowed: the server is on 127.0.0.1


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[str]:
    """An HTTPS URL on 127.0.0.1 whose certificate no system authority signed."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("openssl is needed to make a test certificate")

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_the_tls_contexts_are_made_once() -> None:
    assert transport._tls_context(False) is transport._tls_context(False)
    assert transport._tls_context(True) is transport._tls_context(True)
    assert transport._tls_context(True) is not transport._tls_context(False)


def test_insecure_and_verified_exchanges_do_not_share_their_checks(self_signed: str) -> None:
    with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        exchange(HttpRequest(self_signed, timeout=5), OPEN)
    assert exchange(HttpRequest(self_signed, timeout=5, insecure=True), OPEN).body == b"ok"
    with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        exchange(HttpRequest(self_signed, timeout=5), OPEN)
    verified = transport._tls_context(False)
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
