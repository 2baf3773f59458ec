"""Test helpers that serve HTTP on 127.0.0.1 from a thread: a metrics exporter that the dev
cluster's Prometheus scrapes, and a scripted JSON server for web metrics.

```python
with Exporter(cluster.state.prometheus_targets) as exporter:
    exporter.set("http_requests_total", 95, labels={"code": "200"})
    wait_until_scraped(cluster.prometheus_url, f'http_requests_total{{job="{exporter.job}"}}')
```

`Exporter` registers itself as a scrape target by writing a file_sd file
`<targets>/<job>.json` (`[{"targets": ["127.0.0.1:PORT"], "labels": {"job": "<job>"}}]`),
which Prometheus watches (scrape interval 1 s), and removes the file on close. The `job`
label is unique per exporter, so tests running side by side never see each other's series.
Standard library only.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Exporter", "Reply", "ScriptedServer", "closed_port", "wait_until_scraped"]


class _Server:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, answering with `handle(request)`."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler, bytes], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                handle(self, self.rfile.read(length) if length else b"")

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Exporter:
    """Serves `/metrics` with the gauges and counters a test sets, scraped by Prometheus."""

    def __init__(self, targets_dir: Path, job: str | None = None) -> None:
        self.job = job or f"exporter-{uuid.uuid4().hex[:10]}"
        self._lock = threading.Lock()
        self._kinds: dict[str, str] = {}
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._server = _Server(self._handle)
        self.port = self._server.port
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self._target_file = Path(targets_dir) / f"{self.job}.json"
        self._register()

    def set(self, name: str, value: float, labels: dict[str, str] | None = None,
            kind: str | None = None) -> None:
        """Set the sample `name{labels}`; `kind` defaults to counter for `*_total`, else gauge."""
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            self._kinds.setdefault(name, kind or ("counter" if name.endswith("_total")
                                                  else "gauge"))
            self._values.setdefault(name, {})[key] = float(value)

    def render(self) -> str:
        """The exposition text Prometheus reads."""
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._values):
                lines.append(f"# TYPE {name} {self._kinds[name]}")
                for key, value in sorted(self._values[name].items()):
                    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                    series = f"{name}{{{labels}}}" if labels else name
                    lines.append(f"{series} {_format_value(value)}")
        return "\n".join(lines) + "\n"

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.path.split("?")[0] != "/metrics":
            handler.send_error(404)
            return
        payload = self.render().encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _register(self) -> None:
        self._target_file.parent.mkdir(parents=True, exist_ok=True)
        staging = self._target_file.with_name(f".{self._target_file.name}.tmp")
        staging.write_text(json.dumps(
            [{"targets": [f"127.0.0.1:{self.port}"], "labels": {"job": self.job}}]))
        os.replace(staging, self._target_file)  # Prometheus never reads half a file

    def close(self) -> None:
        self._target_file.unlink(missing_ok=True)
        self._server.close()

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Reply:
    """A canned answer: status, body (a str, or JSON for anything else), delay, headers."""

    status: int = 200
    body: Any = ""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers each path with the `Reply` a test scripted, and records what it received.

    A reply's `body` may be a function of the request (to echo headers, say).
    """

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.received: list[Received] = []
        self._server = _Server(self._handle)
        self.port = self._server.port

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply(self, path: str, reply: Reply) -> str:
        """Script `path`; returns its URL."""
        self.replies[path] = reply
        return self.url(path)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        path = handler.path.split("?")[0]
        request = Received(handler.command, handler.path, dict(handler.headers.items()), body)
        self.received.append(request)
        reply = self.replies.get(path, Reply(404, {"error": f"no reply scripted for {path}"}))
        if reply.delay:
            time.sleep(reply.delay)
        content = reply.body(request) if callable(reply.body) else reply.body
        is_text = isinstance(content, str | bytes)
        payload = content if isinstance(content, bytes) else (
            content.encode() if isinstance(content, str) else json.dumps(content).encode())
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "text/plain" if is_text else "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def query_prometheus(prometheus_url: str, query: str) -> dict[str, Any]:
    """The raw `/api/v1/query` answer for `query`."""
    url = f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.loads(response.read()))


def wait_until_scraped(
    prometheus_url: str,
    query: str,
    timeout: float = 60.0,
    predicate: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Poll Prometheus until `query` has a non-empty result (that satisfies `predicate`).

    Returns the result; raises AssertionError with the last answer after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = query_prometheus(prometheus_url, query)
        except OSError as exc:
            last = repr(exc)
        else:
            result = list((last.get("data") or {}).get("result") or [])
            if result and (predicate is None or predicate(result)):
                return result
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never answered {query!r} as expected in {timeout}s; "
                         f"last answer: {str(last)[:500]}")
