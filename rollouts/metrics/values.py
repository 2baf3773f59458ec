"""Pure helpers the collectors share: reading numbers, conditions and names out of objects.

- `measurement_value("[0.99]") -> 0.99`: a measurement's stored text as one float (a
  vector's first element; None for anything that is not a finite number);
- `condition_threshold("result[0] >= 0.95") -> (">=", 0.95)`: the constant of a simple
  comparison, so a dashboard can draw it beside the measured value;
- `provider_type(metric)`: Argo's provider type name (`Prometheus`, `Web`, `Job` ...);
- `judge_numbers('{"score": 50, ...}')`: the score, p-values and effect sizes in a judge
  metric's stored value;
- `redact_repo(url)`: a repository URL without credentials, fit for a label value.

No I/O, no prometheus_client (only `rollouts.api`'s judge defaults): the tests are plain
examples.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from rollouts.api.analysis import JUDGE_DEFAULT_MARGINAL, JUDGE_DEFAULT_PASS

__all__ = [
    "condition_threshold",
    "judge_numbers",
    "judge_thresholds",
    "measurement_value",
    "metric_dry_run",
    "owner_rollout",
    "provider_type",
    "redact_repo",
]

ROLLOUT_LABEL = "rollouts.argoproj.io/rollout"

# Argo's names (metricproviders.Type); keys not listed keep their own spelling.
_PROVIDER_TYPES = {
    "prometheus": "Prometheus", "web": "Web", "job": "Job", "datadog": "Datadog",
    "newRelic": "NewRelic", "wavefront": "Wavefront", "kayenta": "Kayenta",
    "cloudWatch": "CloudWatch", "graphite": "Graphite", "influxdb": "Influxdb",
    "skywalking": "Skywalking", "judge": "Judge",
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RESULT = r"(?:asFloat\(\s*)?result(?:\s*\[\s*0\s*\])?(?:\s*\))?"
_FORWARD = re.compile(rf"^\s*{_RESULT}\s*(<=|>=|<|>)\s*({_NUMBER})\s*$")
_REVERSED = re.compile(rf"^\s*({_NUMBER})\s*(<=|>=|<|>)\s*{_RESULT}\s*$")
_FLIPPED = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")


def measurement_value(text: object) -> float | None:
    """A stored measurement value as a float, or None when it is not a finite number.

    >>> measurement_value("0.99"), measurement_value("[0.99]"), measurement_value("[1, 2]")
    (0.99, 0.99, 1.0)
    >>> measurement_value("[]"), measurement_value("true"), measurement_value("{}")
    (None, None, None)
    """
    if text is None:
        return None
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(text) else None
    try:
        parsed: Any = json.loads(str(text))
    except ValueError:
        return None
    if isinstance(parsed, list):
        if not parsed:
            return None
        parsed = parsed[0]
    if isinstance(parsed, str):
        try:
            parsed = float(parsed)
        except ValueError:
            return None
    if isinstance(parsed, bool) or not isinstance(parsed, int | float):
        return None
    number = float(parsed)
    return number if math.isfinite(number) else None


def condition_threshold(condition: object, args: dict[str, str] | None = None
                        ) -> tuple[str, float] | None:
    """`(operator, constant)` of a condition that compares the result with one number.

    `result[0] >= 0.95` -> `(">=", 0.95)`; `0.5 > result` -> `("<", 0.5)` (the result on
    the left); `{{args.x}}` placeholders are filled from `args` first. Anything else
    (`&&`, `len(...)`, two results) -> None: no single line to draw.
    """
    if not isinstance(condition, str) or not condition.strip():
        return None
    text = _ARG.sub(lambda m: (args or {}).get(m.group(1), m.group(0)), condition)
    forward = _FORWARD.match(text)
    if forward:
        return forward.group(1), float(forward.group(2))
    reversed_ = _REVERSED.match(text)
    if reversed_:
        return _FLIPPED[reversed_.group(2)], float(reversed_.group(1))
    return None


def provider_type(metric: dict[str, Any]) -> str:
    """Argo's type name of the metric's provider (`Prometheus`), or `""` when unclear."""
    provider = metric.get("provider")
    if not isinstance(provider, dict):
        return ""
    keys = [str(key) for key, value in provider.items() if value is not None]
    if len(keys) != 1:
        return ""
    plugin = provider.get("plugin")
    if keys[0] == "plugin" and isinstance(plugin, dict) and plugin:
        return str(next(iter(plugin)))  # Argo names a plugin metric by its plugin
    return _PROVIDER_TYPES.get(keys[0], keys[0])


def metric_dry_run(run: dict[str, Any], metric_name: str,
                   result: dict[str, Any] | None) -> bool:
    """Whether the metric runs dry: as recorded in its result, else by `spec.dryRun` rules."""
    if result is not None and "dryRun" in result:
        return bool(result["dryRun"])
    for rule in (run.get("spec") or {}).get("dryRun") or []:
        pattern = str((rule or {}).get("metricName") or "")
        try:
            if re.search(pattern, metric_name):
                return True
        except re.error:
            if pattern == metric_name:
                return True
    return False


def owner_rollout(obj: dict[str, Any]) -> str:
    """The Rollout an AnalysisRun belongs to: its label, else its controller owner, else ``."""
    meta = obj.get("metadata") or {}
    label = (meta.get("labels") or {}).get(ROLLOUT_LABEL)
    if label:
        return str(label)
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "Rollout":
            return str(ref.get("name") or "")
    return ""


def redact_repo(url: object) -> str:
    """A repository URL without userinfo (`https://u:token@host/r` -> `https://host/r`).

    scp-like `git@host:org/repo` carries no secret (the user is fixed) and is kept.
    """
    return _USERINFO.sub(r"\1", str(url or "")).rstrip("/")


def _finite(number: object) -> float | None:
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    return float(number) if math.isfinite(number) else None


def judge_numbers(text: object) -> tuple[float | None, list[tuple[str, float | None,
                                                                  float | None]]]:
    """The score and each metric's `(name, pValue, effectSize)` in a judge metric's stored
    value (`analysis.judge`'s `{score, classification, metrics: [...]}` as JSON text);
    `(None, [])` for anything else, and None for a number that is absent or not finite.

    >>> judge_numbers('{"score":50,"classification":"Fail","metrics":['
    ...               '{"name":"latency","classification":"High","pValue":0.0001,'
    ...               '"effectSize":0.3},{"name":"errors","classification":"NoData",'
    ...               '"pValue":null,"effectSize":null}]}')
    (50.0, [('latency', 0.0001, 0.3), ('errors', None, None)])
    """
    try:
        parsed: Any = json.loads(str(text))
    except ValueError:
        return None, []
    if not isinstance(parsed, dict):
        return None, []
    metrics = parsed.get("metrics")
    found = [(str(m.get("name")), _finite(m.get("pValue")), _finite(m.get("effectSize")))
             for m in (metrics if isinstance(metrics, list) else [])
             if isinstance(m, dict) and m.get("name")]
    return _finite(parsed.get("score")), found


def judge_thresholds(metric: dict[str, Any]) -> dict[str, float]:
    """`{"pass": 95.0, "marginal": 75.0}` of a judge metric (its thresholds or the
    defaults), `{}` for another provider."""
    provider = metric.get("provider")
    judge = provider.get("judge") if isinstance(provider, dict) else None
    if not isinstance(judge, dict):
        return {}
    thresholds = judge.get("thresholds")
    given: dict[str, Any] = thresholds if isinstance(thresholds, dict) else {}
    found = {"pass": JUDGE_DEFAULT_PASS, "marginal": JUDGE_DEFAULT_MARGINAL}
    for name in found:
        number = _finite(given.get(name))
        if number is not None:
            found[name] = number
    return found
