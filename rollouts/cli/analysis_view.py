"""How the CLI shows analysis: pure text from AnalysisRun dicts, trial results and `now`.

- `render_run`: the `get analysisrun` view: a header (name, namespace, phase, message,
  times, arguments with Secret-backed ones as `*****`), then one block per metric
  (provider, phase, counters, conditions, the last measurements);
- `render_trial`: what `analysis run` prints: per metric the value, the verdict and why;
- `why`: the reason for a measurement's verdict, read from its phase and the conditions
  the metric has (the judging itself is `analysis.decide`'s: nothing is evaluated here);
- `measurement_line`: one line per measurement, as `analysis run --full` streams them.

Neighbours: `analysis_cmds` fetches or measures and prints these strings; the icons and
`age` are `rollout_view`'s, so both views look alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rollouts.api import AnalysisPhase
from rollouts.cli.rollout_view import ICONS, KIND_ICONS, age

__all__ = [
    "REDACTED",
    "SHOWN_MEASUREMENTS",
    "TrialMetric",
    "args_text",
    "measurement_line",
    "render_run",
    "render_trial",
    "shown_target",
    "trial_metrics",
    "trial_verdict",
    "why",
]

REDACTED = "*****"
SHOWN_MEASUREMENTS = 5
COUNTER_NAMES = ("count", "successful", "failed", "inconclusive", "error", "consecutiveError")
_LABEL_WIDTH = 15
_MAX_VALUE = 40
_MAX_MESSAGE = 120


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _icon(phase: str) -> str:
    return f"{ICONS.get(phase, '?')} {phase}"


def _cut(text: Any, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _when(stamp: Any, now: datetime) -> str:
    return f"{stamp} ({age(stamp, now)} ago)" if stamp else "-"


def _provider_kind(metric: dict[str, Any]) -> str:
    provider = metric.get("provider")
    keys = [k for k, v in provider.items() if v is not None] if isinstance(provider, dict) else []
    return ",".join(keys) or "?"


def _lines(pairs: Sequence[tuple[str, str]], indent: str = "") -> list[str]:
    return [f"{indent}{label:<{_LABEL_WIDTH}}{value}".rstrip() for label, value in pairs]


def _table(rows: list[tuple[str, ...]], indent: str) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


def args_text(args: Any, overridden: frozenset[str] = frozenset()) -> str:
    """`service=checkout  token=*****`: values, Secret-backed ones masked.

    An argument whose value comes from elsewhere says where (`(fieldRef metadata.name)`);
    names in `overridden` are marked `(--arg)`.
    """
    shown: list[str] = []
    for arg in args if isinstance(args, list) else []:
        if not isinstance(arg, dict) or not arg.get("name"):
            continue
        name = str(arg["name"])
        source: dict[str, Any] = arg["valueFrom"] if isinstance(arg.get("valueFrom"), dict) \
            else {}
        if arg.get("value") is not None:
            value = _cut(arg["value"], _MAX_VALUE)
        elif source.get("secretKeyRef") is not None:
            value = REDACTED
        elif _get(source, "fieldRef", "fieldPath"):
            value = f"(fieldRef {source['fieldRef']['fieldPath']})"
        elif source.get("podTemplateHashValue"):
            value = f"(podTemplateHashValue {source['podTemplateHashValue']})"
        else:
            value = "(no value)"
        shown.append(f"{name}={value}" + (" (--arg)" if name in overridden else ""))
    return "  ".join(shown) or "-"


def why(phase: str, *, success: str | None, failure: str | None, message: str | None) -> str:
    """Why a measurement got `phase`, from the conditions the metric has.

    The rules are those of `analysis.decide_rules.MetricRules.judge`, read backwards: with
    both conditions a Failed measurement means the failure condition held; with only a
    success condition it means that condition did not hold; and so on. An Error (or any
    measurement with a message) is explained by its message.
    """
    if message:
        return message
    shown_success = f"successCondition `{success}`" if success else None
    shown_failure = f"failureCondition `{failure}`" if failure else None
    if phase == AnalysisPhase.FAILED:
        if shown_failure:
            return f"{shown_failure} holds"
        if shown_success:
            return f"{shown_success} does not hold"
        return "the Job failed"
    if phase == AnalysisPhase.SUCCESSFUL:
        if shown_success and shown_failure:
            return f"{shown_success} holds and {shown_failure} does not"
        if shown_success:
            return f"{shown_success} holds"
        if shown_failure:
            return f"{shown_failure} does not hold"
        return "no condition: any value is Successful"
    if phase == AnalysisPhase.INCONCLUSIVE:
        return f"neither {shown_success} nor {shown_failure} holds"
    return phase or "not measured"


# --- get analysisrun -------------------------------------------------------------------

def _dry_run(run: dict[str, Any], name: str, result: dict[str, Any]) -> bool:
    if result.get("dryRun"):
        return True
    for rule in _get(run, "spec", "dryRun") or []:
        pattern = str(_get(rule, "metricName") or "")
        try:
            if pattern and re.search(pattern, name):
                return True
        except re.error:
            if pattern == name:
                return True
    return False


def _measurement_rows(result: dict[str, Any]) -> list[str]:
    found = [m for m in result.get("measurements") or [] if isinstance(m, dict)]
    if not found:
        return ["  Measurements:  none yet"]
    shown = found[-SHOWN_MEASUREMENTS:]
    title = (f"  Measurements:  last {len(shown)} of {len(found)} kept" if len(shown) < len(found)
             else f"  Measurements:  {len(found)}")
    rows: list[tuple[str, ...]] = [("PHASE", "VALUE", "FINISHED AT", "MESSAGE")]
    for measurement in shown:
        phase = str(measurement.get("phase") or "Running")
        rows.append((_icon(phase), _cut(measurement.get("value", "-"), _MAX_VALUE),
                     str(measurement.get("finishedAt") or "-"),
                     _cut(measurement.get("message") or "", _MAX_MESSAGE)))
    return [title, *_table(rows, "    ")]


def _metric_block(run: dict[str, Any], name: str, metric: dict[str, Any],
                  result: dict[str, Any]) -> list[str]:
    kind = _provider_kind(metric) if metric else "?"
    dry = "  (dry run: never decides the run)" if _dry_run(run, name, result) else ""
    phase = str(result.get("phase") or "Pending")
    counters = "  ".join(f"{key} {result.get(key) or 0}" for key in COUNTER_NAMES)
    pairs = [("Provider:", kind), ("Phase:", _icon(phase))]
    if result.get("message"):
        pairs.append(("Message:", _cut(result["message"], 200)))
    pairs.append(("Counters:", counters))
    for label, key in (("Success:", "successCondition"), ("Failure:", "failureCondition")):
        if metric.get(key):
            pairs.append((label, _cut(metric[key], 200)))
    limits = [f"{key} {metric[key]}" for key in ("count", "interval", "failureLimit",
                                                 "inconclusiveLimit", "consecutiveErrorLimit")
              if metric.get(key) is not None]
    if limits:
        pairs.append(("Settings:", "  ".join(limits)))
    return [f"{KIND_ICONS['AnalysisRun']} {name}{dry}", *_lines(pairs, "  "),
            *_measurement_rows(result)]


def render_run(run: dict[str, Any], now: datetime) -> str:
    """The `get analysisrun` view: header, then a block per metric (spec order first)."""
    status: dict[str, Any] = run["status"] if isinstance(run.get("status"), dict) else {}
    phase = str(status.get("phase") or "Pending")
    message = status.get("message")
    pairs = [("Name:", str(_get(run, "metadata", "name") or "")),
             ("Namespace:", str(_get(run, "metadata", "namespace") or "")),
             ("Status:", _icon(phase) + (f"   ({_cut(message, 300)})" if message else "")),
             ("Started:", _when(status.get("startedAt"), now))]
    if status.get("completedAt"):
        pairs.append(("Completed:", _when(status["completedAt"], now)))
    if _get(run, "spec", "terminate"):
        pairs.append(("Terminate:", "requested (spec.terminate)"))
    pairs.append(("Args:", args_text(_get(run, "spec", "args"))))
    summary = status.get("runSummary")
    if isinstance(summary, dict):
        pairs.append(("Summary:", "  ".join(
            f"{key} {summary.get(key) or 0}"
            for key in ("count", "successful", "failed", "inconclusive", "error"))))
    spec_metrics = [m for m in _get(run, "spec", "metrics") or [] if isinstance(m, dict)]
    results = {str(r.get("name")): r for r in status.get("metricResults") or []
               if isinstance(r, dict)}
    names = [str(m.get("name")) for m in spec_metrics]
    names += [name for name in results if name not in names]
    by_name = {str(m.get("name")): m for m in spec_metrics}
    blocks: list[str] = []
    for name in names:
        blocks += ["", *_metric_block(run, name, by_name.get(name, {}), results.get(name, {}))]
    if not names:
        blocks += ["", "(no metrics)"]
    return "\n".join([*_lines(pairs), *blocks])


# --- analysis run ----------------------------------------------------------------------

@dataclass(frozen=True)
class TrialMetric:
    """One metric as `analysis run` tried it (all text already redacted).

    `measurement` is the measurement `analysis.decide.record` wrote (phase, value,
    message), None when the metric was skipped (`skipped` says why).
    """

    name: str
    kind: str
    target: str
    """What was asked: the query, or `GET <url>`."""
    success: str | None
    failure: str | None
    dry_run: bool = False
    measurement: dict[str, Any] | None = None
    skipped: str | None = None

    @property
    def phase(self) -> str:
        return str((self.measurement or {}).get("phase") or "")


def shown_target(metric: dict[str, Any], redact: Callable[[str], str]) -> str:
    """What a metric asks: its PromQL query, `GET <url>` (never the URL's user info), or
    the metrics a judge compares."""
    kind = _provider_kind(metric)
    spec = _get(metric, "provider", kind) or {}
    if kind == "prometheus":
        return redact(str(spec.get("query") or ""))
    if kind == "judge":
        names = ", ".join(str(m.get("name")) for m in spec.get("metrics") or []
                          if isinstance(m, dict))
        return f"canary against baseline over {spec.get('window')}: {names}"
    if kind != "web":
        return kind
    url = str(spec.get("url") or "")
    try:
        parts = urlsplit(url)
        if parts.username or parts.password:
            netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            url = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        pass
    return f"{str(spec.get('method') or 'GET').upper()} {redact(url)}"


def trial_metrics(metrics: Sequence[dict[str, Any]], status: dict[str, Any],
                  skipped: Mapping[str, str], redact: Callable[[str], str],
                  ) -> list[TrialMetric]:
    """What to show of each metric after `analysis run` measured it once: its condition
    texts and target (`metrics` as substituted), and the last measurement `status` holds."""
    results = {str(r.get("name")): r for r in status.get("metricResults") or []
               if isinstance(r, dict)}
    trials: list[TrialMetric] = []
    for metric in metrics:
        name = str(metric.get("name"))
        result = results.get(name) or {}
        history = [m for m in result.get("measurements") or [] if isinstance(m, dict)]
        last = {key: redact(value) if isinstance(value, str) else value
                for key, value in (history[-1] if history else {}).items()}
        success, failure = (redact(str(metric[key])) if metric.get(key) else None
                            for key in ("successCondition", "failureCondition"))
        trials.append(TrialMetric(
            name=name, kind=_provider_kind(metric), target=shown_target(metric, redact),
            success=success, failure=failure, dry_run=bool(result.get("dryRun")),
            measurement=None if name in skipped else last, skipped=skipped.get(name)))
    return trials


def trial_verdict(metrics: Sequence[TrialMetric]) -> AnalysisPhase:
    """The worst verdict of the measured metrics that decide (not dry-run, not skipped)."""
    phases: list[AnalysisPhase] = []
    for metric in metrics:
        if metric.skipped is None and not metric.dry_run:
            try:
                phases.append(AnalysisPhase(metric.phase))
            except ValueError:
                phases.append(AnalysisPhase.ERROR)
    return AnalysisPhase.worst(phases)


def render_trial(source: str, namespace: str, args: str, metrics: Sequence[TrialMetric]) -> str:
    """Header, a block per metric (value, verdict, why), and the overall verdict."""
    lines = _lines([("Template:", source), ("Namespace:", namespace), ("Args:", args)])
    for metric in metrics:
        dry = "  (dry run: does not decide)" if metric.dry_run else ""
        lines += ["", f"{KIND_ICONS['AnalysisRun']} {metric.name}  {metric.kind}{dry}"]
        if metric.skipped is not None:
            lines.append(f"  skipped: {metric.skipped}")
            continue
        measurement = metric.measurement or {}
        pairs = [("Asked:", _cut(metric.target, 200))]
        if "value" in measurement:
            pairs.append(("Value:", _cut(measurement["value"], 200)))
        phase = metric.phase or "Error"
        message = measurement.get("message")
        if not message and metric.kind == "judge" and not (metric.success or metric.failure):
            # Without conditions the judge's own verdict decided; its metadata says why.
            message = f"the judge: {(measurement.get('metadata') or {}).get('reason', phase)}"
        reason = why(phase, success=metric.success, failure=metric.failure, message=message)
        pairs.append(("Verdict:", f"{_icon(phase)}: {reason}"))
        lines += _lines(pairs, "  ")
    measured = [m for m in metrics if m.skipped is None]
    counts: dict[str, int] = {}
    for metric in measured:
        counts[metric.phase or "Error"] = counts.get(metric.phase or "Error", 0) + 1
    tally = ", ".join(f"{n} {phase}" for phase, n in sorted(counts.items()))
    skipped = len(metrics) - len(measured)
    tail = (f"; {skipped} skipped" if skipped else "")
    if measured:
        verdict = trial_verdict(metrics)
        lines += ["", f"Result:  {_icon(verdict.value)} ({tally}{tail})"]
    else:
        lines += ["", f"Result:  nothing measured{tail}"]
    return "\n".join(lines)


def measurement_line(name: str, number: int, measurement: dict[str, Any], elapsed: float) -> str:
    """`[+12s] success-rate #2  ✔ Successful  value [0.97]  (message)`, for `--full`."""
    phase = str(measurement.get("phase") or "Running")
    line = f"[+{elapsed:.0f}s] {name} #{number}  {_icon(phase)}"
    if "value" in measurement:
        line += f"  value {_cut(measurement['value'], _MAX_VALUE)}"
    if measurement.get("message"):
        line += f"  ({_cut(measurement['message'], _MAX_MESSAGE)})"
    return line
