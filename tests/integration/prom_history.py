"""A real Prometheus holding history written before it starts.

Tests of what analysis would have decided in the past need samples at chosen past
instants. Prometheus only accepts those through its own backfill tool: the series are
written as OpenMetrics text, `promtool tsdb create-blocks-from openmetrics` turns them
into TSDB blocks, and a Prometheus started on that directory (scraping nothing) serves
them to ordinary queries.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rollouts.devcluster.process import free_port
from tests.integration.exporter import _escape, _format_value

__all__ = ["Series", "openmetrics", "prometheus_with_history"]

_READY_SECONDS = 60.0


@dataclass(frozen=True)
class Series:
    """One gauge series: `metric{labels}` with `(unix seconds, value)` points."""

    metric: str
    points: Sequence[tuple[float, float]]
    labels: Mapping[str, str] = field(default_factory=dict)


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def openmetrics(series: Sequence[Series]) -> str:
    """The OpenMetrics text promtool reads: one gauge family per metric name, each
    series' points in time order, `# EOF` last."""
    families: dict[str, list[Series]] = {}
    for one in series:
        families.setdefault(one.metric, []).append(one)
    lines: list[str] = []
    for metric, members in families.items():
        lines.append(f"# TYPE {metric} gauge")
        for one in members:
            labels = _labels(one.labels)
            for at, value in sorted(one.points):
                lines.append(f"{metric}{labels} {_format_value(value)} {at:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def prometheus_with_history(workdir: Path, series: Sequence[Series]) -> Iterator[str]:
    """Backfill `series` into a new TSDB under `workdir`, run Prometheus on it and yield
    its base URL (`http://127.0.0.1:PORT`); it is stopped on exit."""
    promtool = shutil.which("promtool")
    prometheus = shutil.which("prometheus")
    if promtool is None or prometheus is None:
        raise RuntimeError("promtool and prometheus are needed (Debian package "
                           "'prometheus'; `make tools` installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "history.om"
    source.write_text(openmetrics(series))
    data = workdir / "data"
    made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                           str(source), str(data)],
                          capture_output=True, text=True, timeout=600, check=False)
    if made.returncode != 0:
        raise RuntimeError(f"promtool could not backfill: {made.stderr.strip()[-2000:]}")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d",
         "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + _READY_SECONDS
        while not _ready(url):
            if process.poll() is not None:
                raise RuntimeError("prometheus exited: "
                                   + (workdir / "prometheus.log").read_text()[-2000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus at {url} not ready in {_READY_SECONDS:g}s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
