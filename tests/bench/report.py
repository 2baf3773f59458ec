"""Writing benchmark figures: BENCHMARKS.json keeps the last two runs of each benchmark,
BENCHMARKS.md shows them side by side with the machine, versions and N."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "BENCHMARKS.json"
REPORT = REPO / "BENCHMARKS.md"


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


def record(benchmark: str, title: str, rows: list[dict[str, Any]], notes: str,
           versions: dict[str, str]) -> None:
    """Store this run of `benchmark` (rows of figure/value/unit/n) and rewrite the report."""
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous = data.get(benchmark, {}).get("current")
    data[benchmark] = {
        "title": title,
        "current": {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": machine(), "versions": versions, "rows": rows,
                    "notes": notes},
        "previous": previous,
    }
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    _render(data)


def _render(data: dict[str, Any]) -> None:
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`tests/bench/`); each table shows this run beside the",
             "previous one. Figures are measurements on the machine named, not targets.", ""]
    for benchmark in sorted(data):
        entry = data[benchmark]
        current, previous = entry["current"], entry.get("previous")
        lines += [f"## {entry['title']}", "",
                  f"Run {current['when']} on {current['machine']['cpu']}, "
                  f"{current['machine']['memory']} RAM; Python {current['machine']['python']}, "
                  f"{current['machine']['go']}; "
                  + ", ".join(f"{k} {v}" for k, v in sorted(current["versions"].items())), ""]
        old = {row["figure"]: row for row in (previous or {}).get("rows", [])}
        lines += ["| figure | N | this run | previous run |", "| --- | --- | --- | --- |"]
        for row in current["rows"]:
            before = old.get(row["figure"])
            shown = f"{before['value']} {before['unit']}" if before else "—"
            lines.append(f"| {row['figure']} | {row['n']} | {row['value']} {row['unit']} "
                         f"| {shown} |")
        lines += ["", current["notes"], ""]
    REPORT.write_text("\n".join(lines))
