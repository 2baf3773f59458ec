"""Pure parts of `make bench-compare`: figures, percentiles, the side-by-side table and
the rows handed to `tests.bench.report.record`.

A `Figure` is one number a scenario measured for one controller. Every figure in this
benchmark is lower-is-better (latency, time, CPU, memory, requests), but each carries
`better` so the table says, per row, which way the ratio reads. The ratio is always
Argo / ours: with lower-is-better, above 1 means ours is ahead.

Latency follows report.py's rule: p50, p99 only with N >= 100, and max.

Neighbours: `scenarios` produces figures; `__main__` prints and records the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tests.bench.report import MIN_N_FOR_P99, nearest_rank

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Figure:
    """One measured number: `label` names it the same for both controllers."""

    label: str
    value: float | None
    unit: str
    n: int
    better: Better = "lower"


def latency_figures(label: str, seconds: Sequence[float]) -> list[Figure]:
    """p50, p99 (N >= 100 only) and max of `seconds`, in milliseconds."""
    n = len(seconds)
    if not n:
        return [Figure(f"{label}: p50", None, "ms", 0), Figure(f"{label}: max", None, "ms", 0)]
    figures = [Figure(f"{label}: p50", nearest_rank(seconds, 0.5) * 1000, "ms", n)]
    if n >= MIN_N_FOR_P99:
        figures.append(Figure(f"{label}: p99", nearest_rank(seconds, 0.99) * 1000, "ms", n))
    figures.append(Figure(f"{label}: max", max(seconds) * 1000, "ms", n))
    return figures


def fmt(value: float | None) -> str:
    """About three significant digits: 1234, 123, 12.3, 1.23, 0.123; 0 as 0."""
    if value is None:
        return "—"
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return "0" if size == 0 else f"{value:.3g}"


def ratio(ours: Figure | None, argo: Figure | None) -> str:
    """'Argo / ours' as text, with who is ahead on this row."""
    if ours is None or argo is None or ours.value is None or argo.value is None:
        return "—"
    if ours.value == 0 and argo.value == 0:
        return "both 0"
    if ours.value == 0:
        return "ours 0 (ours better)" if ours.better == "lower" else "ours 0 (Argo better)"
    r = argo.value / ours.value
    if abs(r - 1) < 0.005:
        return "1.00x (even)"
    ours_ahead = r > 1 if ours.better == "lower" else r < 1
    return f"{r:.2f}x ({'ours' if ours_ahead else 'Argo'} better)"


def _pairs(ours: Sequence[Figure], argo: Sequence[Figure]
           ) -> list[tuple[str, Figure | None, Figure | None]]:
    by_label = {f.label: f for f in argo}
    labels = [f.label for f in ours] + [f.label for f in argo
                                        if f.label not in {o.label for o in ours}]
    mine = {f.label: f for f in ours}
    return [(label, mine.get(label), by_label.get(label)) for label in labels]


def table(ours: Sequence[Figure], argo: Sequence[Figure]) -> list[str]:
    """The Markdown table: figure | N | ours | Argo Rollouts | ratio (Argo / ours)."""
    lines = ["| figure | N | ours | Argo Rollouts | ratio (Argo / ours) |",
             "| --- | --- | --- | --- | --- |"]
    for label, mine, theirs in _pairs(ours, argo):
        present = [f for f in (mine, theirs) if f is not None]
        unit = present[0].unit if present else ""
        ns = {f.n for f in present}
        n = str(ns.pop()) if len(ns) == 1 else " / ".join(
            str(f.n) if f else "—" for f in (mine, theirs))
        lines.append(f"| {label} | {n} | {_cell(mine, unit)} | {_cell(theirs, unit)} | "
                     f"{ratio(mine, theirs)} |")
    return lines


def _cell(figure: Figure | None, unit: str) -> str:
    if figure is None or figure.value is None:
        return "—"
    return f"{fmt(figure.value)} {unit}".strip()


def rows(controller: str, figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """report.record rows, one per figure, named `<controller>: <label>`."""
    return [{"figure": f"{controller}: {f.label}", "n": f.n, "value": fmt(f.value),
             "unit": f.unit} for f in figures]
