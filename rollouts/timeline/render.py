"""`rollouts plan`'s text output: a table of stages, the analysis under its gate. Pure.

    Rollout rollout-canary (canary; 5 replicas; no traffic router: weights are pod
    counts; maxSurge 2, maxUnavailable 1)

       STEP  ACTION                 WEIGHT  CANARY  STABLE  AFTER  MIN  WAITS
       1     setWeight: 20          20%     1       4       0s     0s
       2     pause until promoted   20%     1       4       0s     0s   until promoted
       3     analysis: error-rate   20%     1       4       0s     4m
            errors (prometheus, interval 1m, count 5): sum(rate(errors{...}[1m]))
       -     promote to 100%: ...   100%    5       0       4m     0s
            scaling (canary/stable): 3/3 -> 4/1 -> 5/0

    Minimum total time: 4m, plus:
      step 2: pause until promoted

`>` marks the current stage of a live Rollout; done stages are marked `✓`.
Neighbours: `rollouts.timeline.model` (what is printed), `rollouts.cli.plan_cmd`.
"""

from __future__ import annotations

from rollouts.timeline.model import Gate, Stage, Timeline, seconds_text

__all__ = ["render_timeline"]

_MARK = {"done": "✓", "current": ">", "pending": " "}


def _header(timeline: Timeline) -> str:
    where = f"{timeline.namespace}/" if timeline.namespace else ""
    parts = [f"{timeline.strategy}", f"{timeline.replicas} replicas"]
    if timeline.strategy == "canary":
        if timeline.routers:
            parts.append(f"traffic router: {', '.join(timeline.routers)}")
        else:
            parts.append("no traffic router: weights are pod counts")
        parts.append(f"maxSurge {timeline.max_surge}, maxUnavailable {timeline.max_unavailable}")
    return f"Rollout {where}{timeline.name} ({'; '.join(parts)})"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                      ).rstrip() for row in rows]


def _gate_lines(gate: Gate, indent: str) -> list[str]:
    lines: list[str] = []
    missing = [t.name for t in gate.templates if not t.found]
    if missing:
        lines.append(f"{indent}template not given: {', '.join(missing)} (pass it with -f)")
    if gate.args:
        shown = ", ".join(f"{a.name}={a.value if a.value is not None else '?'}"
                          f" ({a.source})" for a in gate.args)
        lines.append(f"{indent}args: {shown}")
    for metric in gate.metrics:
        schedule = [f"{key} {value}" for key, value in (
            ("initialDelay", metric.initial_delay), ("interval", metric.interval),
            ("count", metric.count)) if value is not None]
        what = ", ".join([metric.provider, *schedule, *(["dryRun"] if metric.dry_run else [])])
        query = f": {metric.query}" if metric.query else ""
        lines.append(f"{indent}{metric.name} ({what}){query}")
    return lines


def _stage_row(timeline: Timeline, stage: Stage) -> list[str]:
    canary = timeline.strategy == "canary"
    step = str(stage.index + 1) if stage.index is not None else "-"
    weight = f"{stage.weight}%" if stage.weight is not None else ""
    row = [_MARK.get(stage.state, " "), step if canary else stage.kind, stage.title]
    if canary:
        row.append(weight)
    row.extend([str(stage.replicas.new), str(stage.replicas.stable)])
    if not canary:
        services = stage.services or {}
        row.append(f"{services.get('active', '-')}/{services.get('preview', '-')}")
    row.extend(["" if stage.state == "done" else seconds_text(stage.starts_after),
                seconds_text(stage.min_seconds), stage.waits or ""])
    return row


def render_timeline(timeline: Timeline) -> str:
    canary = timeline.strategy == "canary"
    head = ["", "STEP" if canary else "STAGE", "ACTION"]
    head += ["WEIGHT", "CANARY", "STABLE"] if canary else ["NEW", "STABLE", "ACTIVE/PREVIEW"]
    head += ["AFTER", "MIN", "WAITS"]
    rows = [head] + [_stage_row(timeline, stage) for stage in timeline.stages]
    table = _table(rows)
    lines = [_header(timeline), "", table[0]]
    for stage, line in zip(timeline.stages, table[1:], strict=True):
        lines.append(line)
        indent = " " * 8
        if len(stage.moves) > 1:
            via = " -> ".join(f"{m.new}/{m.stable}" for m in stage.moves)
            lines.append(f"{indent}scaling ({'canary' if canary else 'new'}/stable): {via}")
        if stage.analysis is not None:
            lines.extend(_gate_lines(stage.analysis, indent))
        if stage.experiment is not None:
            for template in stage.experiment["templates"]:
                weight = (f", weight {template['weight']}%"
                          if template.get("weight") is not None else "")
                lines.append(f"{indent}template {template['name']}: {template['specRef']} "
                             f"pods x{template['replicas']}{weight}")
            for analysis in stage.experiment["analyses"]:
                lines.append(f"{indent}analysis {analysis['name']}: "
                             f"{analysis['templateName']}")
        lines.extend(f"{indent}note: {note}" for note in stage.notes)
    if timeline.background is not None:
        gate = timeline.background
        lines += ["", f"Background analysis from step {(gate.starting_step or 0) + 1} to the "
                  "end (a failure aborts the rollout; it adds no time):"]
        lines.extend(_gate_lines(gate, "  "))
    total = f"Minimum total time: {seconds_text(timeline.min_total_seconds)}"
    if timeline.current is not None:
        total += " from now"
    unbounded = timeline.unbounded
    lines += ["", total + (", plus:" if unbounded else "")]
    lines.extend(f"  {item}" for item in unbounded)
    lines.extend(f"note: {note}" for note in timeline.notes)
    return "\n".join(lines)
