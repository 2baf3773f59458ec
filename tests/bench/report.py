"""Writing benchmark figures: BENCHMARKS.json keeps the last two runs of each benchmark,
BENCHMARKS.md shows them side by side with the machine, commit, versions, settings and N.

Every figure reaches the report through `record`, called by the code that measured it;
nothing here accepts a figure from anywhere else. `record` stamps the commit itself
(`+changes` when the product's code has uncommitted edits) and refuses a "p99" row
measured over fewer than 100 samples (that would be the maximum under another name):
`latency_rows` builds the usual p50 / p99 / max rows by that rule.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so a killed benchmark stops its controllers and
    dev clusters (without it, an interrupted run left its controller running beside the
    next runs)."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "BENCHMARKS.json"
REPORT = REPO / "BENCHMARKS.md"
PRODUCT = ("rollouts", "analysis", "reconciler")
MIN_N_FOR_P99 = 100


def machine() -> dict[str, str]:
    try:
        model = next(line.split(":", 1)[1].strip()
                     for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown"
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                   .splitlines() if line.startswith("MemTotal"))
    go = subprocess.run(["go", "version"], capture_output=True, text=True, check=False)
    return {
        "cpu": f"{os.cpu_count()} x {model}",
        "memory": f"{mem_kib / 1024 / 1024:.0f} GiB",
        "python": platform.python_version(),
        "go": go.stdout.strip().removeprefix("go version ") if go.returncode == 0 else "none",
        "kernel": platform.release(),
    }


def commit() -> str:
    """The short commit measured, with `+changes` when the product code has uncommitted
    edits (then the figure describes no commit exactly, and says so)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", *PRODUCT)
    return f"{head}+changes" if dirty else head


def env_number(name: str, default: float) -> float:
    """A benchmark knob from the environment; a value that is not a number stops the run
    with a one-line message naming the knob (no traceback)."""
    value = os.environ.get(name) or str(default)
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"benchmark knob {name}={value!r} is not a number; set a number "
                         f"(default {default:g}) or unset it") from None


def nearest_rank(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def latency_rows(figure: str, seconds: Sequence[float]) -> list[dict[str, Any]]:
    """p50, p99 (only with N >= 100) and max rows, in milliseconds, for `figure`."""
    n = len(seconds)
    if not n:
        return [{"figure": f"{figure}: no samples", "n": 0, "value": "—", "unit": ""}]

    def row(name: str, value: float) -> dict[str, Any]:
        return {"figure": f"{figure}: {name}", "n": n, "value": f"{value * 1000:.0f}",
                "unit": "ms"}

    rows = [row("p50", nearest_rank(seconds, 0.5))]
    if n >= MIN_N_FOR_P99:
        rows.append(row("p99", nearest_rank(seconds, 0.99)))
    rows.append(row("max", max(seconds)))
    return rows


def _check(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if "p99" in row["figure"] and int(row["n"]) < MIN_N_FOR_P99:
            raise ValueError(f"benchmark row '{row['figure']}' claims a p99 over "
                             f"{row['n']} samples; report the max below "
                             f"{MIN_N_FOR_P99} samples")


def record(benchmark: str, title: str, rows: list[dict[str, Any]], notes: str,
           versions: dict[str, str], settings: dict[str, str] | None = None) -> None:
    """Store this run of `benchmark` (rows of figure/value/unit/n) and rewrite the report.

    `settings` names how the measured processes ran (controllers enabled, workers,
    resync, ...); the commit is stamped here. BENCH_RECORD=0 prints the rows and
    stores nothing (a trial run)."""
    _check(rows)
    if os.environ.get("BENCH_RECORD") == "0":
        print(f"BENCH_RECORD=0: not recording {benchmark}: {json.dumps(rows)}", flush=True)
        return
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous = data.get(benchmark, {}).get("current")
    data[benchmark] = {
        "title": title,
        "current": {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": machine(), "commit": commit(), "versions": versions,
                    "settings": settings or {}, "rows": rows, "notes": notes},
        "previous": previous,
    }
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    _render(data)


def _render(data: dict[str, Any]) -> None:
    lines = ["# Benchmarks", "",
             "Written by `make bench` and `make bench-compare` (`tests/bench/`): every row is",
             "produced by the code that measured it, in the run named above its table; each",
             "table shows that run beside the previous one. Figures are measurements on the",
             "machine named, not targets.", ""]
    for benchmark in sorted(data):
        entry = data[benchmark]
        current, previous = entry["current"], entry.get("previous")
        stamp = current.get("commit") or current["versions"].get("commit") or "not recorded"
        versions = {k: v for k, v in current["versions"].items() if k != "commit"}
        lines += [f"## {entry['title']}", "",
                  f"Run {current['when']} at commit {stamp} on {current['machine']['cpu']}, "
                  f"{current['machine']['memory']} RAM; Python {current['machine']['python']}, "
                  f"{current['machine']['go']}; "
                  + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), ""]
        if current.get("settings"):
            lines += ["Settings: " + "; ".join(f"{k} {v}" for k, v in
                                               sorted(current["settings"].items())), ""]
        old = {row["figure"]: row for row in (previous or {}).get("rows", [])}
        lines += ["| figure | N | this run | previous run |", "| --- | --- | --- | --- |"]
        for row in current["rows"]:
            before = old.get(row["figure"])
            shown = f"{before['value']} {before['unit']}".strip() if before else "—"
            lines.append(f"| {row['figure']} | {row['n']} | "
                         f"{(str(row['value']) + ' ' + row['unit']).strip()} | {shown} |")
        lines += ["", current["notes"], ""]
    REPORT.write_text("\n".join(lines))
