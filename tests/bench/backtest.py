"""Benchmark: `rollouts analysis backtest` over a day of history at `--every 1m`.

A real Prometheus (Debian's, started by `tests.integration.prom_history` on blocks that
`promtool tsdb create-blocks-from openmetrics` wrote) holds one day of an error ratio and
a request rate for one service, sampled every 30 s with seeded noise and one bad hour.
The template is README's example (`docs/backtest-example.yaml`: a 5-measurement run, 1 m
apart, a failure limit of 1, `emptyResult: Inconclusive`), so a run starts every minute of
the day: about 1,440 runs and 7,200 state-machine steps.

Each of `RUNS` runs is the installed CLI as a user runs it (`rollouts analysis backtest
... -o json`) in its own process. What is recorded: the wall time of the whole command
(interpreter start included), the queries it made and the measurements it judged (from
its own JSON summary), and its peak RSS (`wait4` on that process alone).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from tests.bench.report import nearest_rank, record
from tests.integration.prom_history import Series, prometheus_with_history

REPO = Path(__file__).resolve().parents[2]
RUNS = 5
DAY = 86_400
STEP = 30
BAD_FROM, BAD_UNTIL = 13 * 3600, 14 * 3600  # seconds after the start of the day


def _history(start: int) -> list[Series]:
    noise = random.Random(15)
    errors, requests = [], []
    for at in range(start, start + DAY + 1, STEP):
        rate = 100 + 20 * noise.random()
        ratio = 0.09 if BAD_FROM <= at - start < BAD_UNTIL else 0.01 + 0.01 * noise.random()
        requests.append((float(at), rate))
        errors.append((float(at), rate * ratio))
    labels = {"service": "checkout"}
    return [Series("http_requests_per_second", requests, labels),
            Series("http_errors_per_second", errors, labels)]


def _template(url: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docs/backtest-example.yaml").read_text())
    for metric in document["spec"]["metrics"]:
        metric["provider"]["prometheus"]["address"] = url
    return document


def _one(template: Path, start: int) -> tuple[float, int, dict[str, Any]]:
    """(seconds, peak RSS in KiB, JSON answer) of one CLI run."""
    rollouts = str(Path(sys.executable).with_name("rollouts"))
    argv = [rollouts, "analysis", "backtest", "-f", str(template), "--arg",
            "service=checkout", "--from", _stamp(start), "--to", _stamp(start + DAY),
            "--every", "1m", "-o", "json"]
    with tempfile.TemporaryFile() as out:
        began = time.monotonic()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if process.returncode not in (0, 1):
        raise RuntimeError(f"backtest exited {process.returncode}: {text[-500:]}")
    return seconds, usage.ru_maxrss, json.loads(text)


def _stamp(unix: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def run() -> None:
    start = (int(time.time()) // 60 * 60) - DAY - 120
    seconds: list[float] = []
    peaks: list[int] = []
    answer: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        with prometheus_with_history(work / "prom", _history(start)) as url:
            template = work / "template.yaml"
            template.write_text(yaml.safe_dump(_template(url)))
            for _ in range(RUNS):
                took, peak, answer = _one(template, start)
                seconds.append(took)
                peaks.append(peak)
    summary = answer["summary"]
    prometheus = subprocess.run(["prometheus", "--version"], capture_output=True, text=True,
                                check=False).stdout.splitlines()[0]
    rows = [
        {"figure": "one day at --every 1m: wall time of the command, median", "n": RUNS,
         "value": f"{nearest_rank(seconds, 0.5):.2f}", "unit": "s"},
        {"figure": "one day at --every 1m: wall time of the command, max", "n": RUNS,
         "value": f"{max(seconds):.2f}", "unit": "s"},
        {"figure": "queries sent to Prometheus per backtest", "n": RUNS,
         "value": str(summary["queries"]), "unit": "queries"},
        {"figure": "measurements judged per backtest", "n": RUNS,
         "value": str(summary["measurements"]), "unit": "measurements"},
        {"figure": "peak RSS of the command, max", "n": RUNS,
         "value": f"{max(peaks) / 1024:.1f}", "unit": "MiB"},
    ]
    record("backtest", "rollouts analysis backtest over a day of backfilled history", rows,
           notes=("README's template (5 measurements 1 m apart, failureLimit 1) over a day of "
                  "30 s samples with one bad hour, a run started every minute; the CLI in its "
                  "own process each time, interpreter start included; Prometheus on the same "
                  f"machine. Verdict of the last run: {answer['verdict']}."),
           versions={"prometheus": prometheus, "python": sys.version.split()[0],
                     "prometheus-api-client": version("prometheus-api-client")})
