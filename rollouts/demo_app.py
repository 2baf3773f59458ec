"""The demo app's metrics: a stand-in for what the demo's pods would report.

kwok runs no containers, so the demo process plays the application: it serves
`demo_success_ratio{rollouts_pod_template_hash=...}` on 127.0.0.1, one series per
ReplicaSet of the demo Rollout, 0.99 for every image except those tagged `:red` (the
"bad version"), which answer 0.42. The dev cluster's Prometheus scrapes it through a
file-SD target, so the AnalysisRun's query goes through the real Prometheus.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rollouts.kube import REPLICA_SET, KubeClient

GOOD, BAD = 0.99, 0.42


def ratio_for(image: str) -> float:
    return BAD if image.endswith(":red") else GOOD


class DemoApp:
    """Serves the demo's metrics and keeps them in step with the ReplicaSets."""

    def __init__(self, client: KubeClient, namespace: str, targets: Path) -> None:
        self._client, self._namespace = client, namespace
        self._ratios: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = app.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._target = targets / "rollouts-demo-app.json"
        targets.mkdir(parents=True, exist_ok=True)
        self._target.write_text(json.dumps([{"targets": [f"127.0.0.1:{self.port}"],
                                             "labels": {"job": "rollouts-demo-app"}}]))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._follow, daemon=True).start()

    def render(self) -> str:
        lines = ["# HELP demo_success_ratio Share of the demo app's requests that succeed.",
                 "# TYPE demo_success_ratio gauge"]
        with self._lock:
            for pod_hash, ratio in sorted(self._ratios.items()):
                lines.append(f'demo_success_ratio{{rollouts_pod_template_hash="{pod_hash}"}} '
                             f"{ratio}")
        return "\n".join(lines) + "\n"

    def _follow(self) -> None:
        while not self._stop.wait(0.3):
            try:
                items = self._client.list(REPLICA_SET, self._namespace).items
            except Exception:  # the demo goes on; the next poll tries again
                continue
            ratios = {}
            for rs in items:
                pod_hash = (rs["metadata"].get("labels") or {}).get("rollouts-pod-template-hash")
                containers = rs["spec"]["template"]["spec"].get("containers") or [{}]
                if pod_hash:
                    ratios[pod_hash] = ratio_for(str(containers[0].get("image", "")))
            with self._lock:
                self._ratios = ratios

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._target.unlink(missing_ok=True)
