"""The controller's HTTP endpoints: `/healthz`, `/readyz` and `/metrics`, on one port.

A `BoundedHTTPServer` (see `httpserver.py`) in a daemon thread. The `Manager` owns it
and supplies two probes, each returning `(ok, reason)`; `/metrics` is the Prometheus
text format of the registry given (the metrics module registers its collectors there),
written by `rollouts.metrics.exposition.render`.

The port may be reachable from the pod network (`--bind 0.0.0.0`), so a client cannot
hold it: each connection has `timeout` seconds in all, at most `max_concurrent` are
handled at once and at most `max_per_client` per client address, so a host holding
slow connections gets 503s while the kubelet's probes are still answered.

The socket is bound when the server is created, so `.port` is known at once (port 0
picks a free one) and a port clash fails before any informer starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from rollouts.metrics.exposition import render

from .httpserver import (
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_MAX_PER_CLIENT,
    DEFAULT_REQUEST_TIMEOUT,
    BoundedHTTPServer,
)

__all__ = ["HealthServer", "Probe"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""How often the serving thread wakes with nothing to do: the bound by which a connection
may outlive its deadline, and by which `stop` may wait for the thread to notice."""

Probe = Callable[[], tuple[bool, str]]
"""A health check: `(ok, one-line reason)`."""


class HealthServer:
    """Serves the probes and metrics until `stop()`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        liveness: Probe,
        readiness: Probe,
        registry: CollectorRegistry,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    ) -> None:
        handler = _handler_class(liveness=liveness, readiness=readiness, registry=registry)
        try:
            self._server = BoundedHTTPServer(
                (host, port),
                handler,
                timeout=timeout,
                max_concurrent=max_concurrent,
                max_per_client=max_per_client,
            )
        except OSError as error:
            raise OSError(
                error.errno,
                f"cannot listen on {host}:{port} for /healthz, /readyz and /metrics "
                f"({error.strerror}); choose another port or stop the process using it",
            ) from error
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a daemon thread (idempotent)."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                # Each poll wakes the thread (and cuts overdue connections): 10 a
                # second were ~0.06 CPU-s a minute of an idle controller.
                kwargs={"poll_interval": POLL_SECONDS},
                name=f"health-server-{self.port}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent; fine if never started)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            # `shutdown` waits for `serve_forever` to notice; only call it if it runs.
            self._server.shutdown()
            thread.join(timeout=2)
        self._server.server_close()


def _handler_class(
    *, liveness: Probe, readiness: Probe, registry: CollectorRegistry
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "rollouts"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/healthz":
                self._probe(liveness)
            elif path == "/readyz":
                self._probe(readiness)
            elif path == "/metrics":
                self._metrics()
            else:
                self._reply(404, b"not found: try /healthz, /readyz or /metrics\n")

        def _probe(self, probe: Probe) -> None:
            try:
                ok, reason = probe()
            except Exception as error:  # a broken probe must answer, not hang the kubelet
                log.exception("health probe %s failed", self.path)
                ok, reason = False, f"probe failed: {error}"
            self._reply(200 if ok else 503, f"{reason}\n".encode())

        def _metrics(self) -> None:
            try:
                body = render(registry)  # the per-object series pre-written, see exposition
            except Exception as error:
                log.exception("collecting metrics failed")
                self._reply(500, f"collecting metrics failed: {error}\n".encode())
                return
            self._reply(200, body, content_type=CONTENT_TYPE_LATEST)

        def _reply(
            self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Probes arrive every few seconds: keep them out of the INFO log.
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
