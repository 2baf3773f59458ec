"""What an AnalysisRun's spec asks for, read once and checked: `RunRules` and `MetricRules`.

`read_rules(run)` validates the spec with `rollouts.api` (types, Argo's metric rules,
unknown fields, conditions that do not parse, `{{args.NAME}}` left unsubstituted) and
raises `InvalidRun` naming the field; a run whose spec is invalid ends in Error at once,
as Argo does ("Analysis spec invalid: ..."). A misspelt `successCondition` must not
silently make every measurement pass.

`MetricRules` carries the behaviour that depends only on the spec: how one measured value
is judged (`judge`), and what a metric's counters mean (`verdict`). `analysis.decide` puts
them together with the status and the clock.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from analysis.evaluator import Condition, ConditionError, compile_condition
from analysis.expr_values import describe
from analysis.judge import judgement_phase, judgement_without_data
from rollouts.api import API_VERSION, AnalysisPhase, AnalysisRun, Metric, check_object

__all__ = [
    "ERROR_RETRY_INTERVAL",
    "InvalidRun",
    "MetricRules",
    "RunRules",
    "is_empty",
    "read_rules",
]

ERROR_RETRY_INTERVAL = timedelta(seconds=10)
"""After a measurement Error, the next attempt comes this much later (Argo's default)."""


class InvalidRun(Exception):
    """The run's spec cannot be executed; the message names the field and the problem."""


@dataclass(frozen=True, slots=True)
class MetricRules:
    """One metric of the spec, with Argo's defaults applied."""

    name: str
    count: int | None
    """Measurements (not counting errors) after which the metric is done; None: no end."""
    interval: timedelta | None
    initial_delay: timedelta | None
    failure_limit: int
    """More failed measurements than this fail the metric; negative: no limit (Argo 1.8)."""
    inconclusive_limit: int
    consecutive_error_limit: int
    success: Condition | None
    failure: Condition | None
    dry_run: bool
    retention: int
    """Measurements kept in status (the newest)."""
    provider: str | None
    empty_result: AnalysisPhase | None = None
    """`emptyResult` (our extension): the phase of a measurement without data; None: the
    conditions judge it, as Argo does."""

    def judge(self, value: object) -> tuple[AnalysisPhase, str | None]:
        """The phase of a measurement that returned `value`, and why when it is Error.

        Argo's rules: an evaluation error is Error; the failure condition holding is Failed;
        with only a success condition, it not holding is Failed; with only a failure
        condition, it not holding is Successful; with both and neither holding,
        Inconclusive. Without conditions a value is Successful, except that a Job's
        verdict (True: the Job succeeded) decides for a `job` metric, and the judge's
        (its score against its thresholds, `analysis.judge`) for a `judge` metric.

        Ours: with `emptyResult` set, a value without data (`is_empty`, or a judgement whose
        every metric lacked samples) takes that phase before any condition is evaluated,
        with a message saying so.
        """
        if self.empty_result is not None:
            empty = _no_data(value)
            if empty is None and self.provider == "judge" and judgement_without_data(value):
                empty = "no metric of the judge had enough samples"
            if empty is not None:
                return self.empty_result, (
                    f"no data ({empty}): emptyResult is {self.empty_result.value}")
        if self.success is None and self.failure is None:
            if self.provider == "job":
                if isinstance(value, bool):
                    return (AnalysisPhase.SUCCESSFUL if value else AnalysisPhase.FAILED), None
                return AnalysisPhase.ERROR, (
                    f"a job metric needs true (the Job succeeded) or false, got {describe(value)}"
                )
            if self.provider == "judge":
                verdict = judgement_phase(value)
                if verdict is None:
                    return AnalysisPhase.ERROR, (
                        f"a judge metric needs the judge's verdict, got {describe(value)}")
                return verdict, None
            return AnalysisPhase.SUCCESSFUL, None
        verdicts: dict[str, bool] = {}
        for field_name, condition in (
            ("successCondition", self.success),
            ("failureCondition", self.failure),
        ):
            if condition is None:
                continue
            try:
                verdicts[field_name] = condition.evaluate(value)
            except ConditionError as error:
                shown = _shorten(condition.expression)
                reason = f'{field_name} "{shown}" could not be evaluated: {error}'
                return AnalysisPhase.ERROR, reason
        succeeded = verdicts.get("successCondition")
        failed = verdicts.get("failureCondition")
        if failed or (failed is None and not succeeded):
            return AnalysisPhase.FAILED, None
        if succeeded or succeeded is None:
            return AnalysisPhase.SUCCESSFUL, None
        return AnalysisPhase.INCONCLUSIVE, None

    def verdict(self, counters: Mapping[str, int]) -> tuple[AnalysisPhase | None, str]:
        """Failed / Inconclusive / Error when a limit is exceeded (with the reason), else None.

        Checked in Argo's order, the later one winning when several are exceeded at once:
        failures, then inconclusives, then consecutive errors.
        """
        phase: AnalysisPhase | None = None
        reason = ""
        limits = (
            (AnalysisPhase.FAILED, "failed", "failed", "failureLimit", self.failure_limit),
            (AnalysisPhase.INCONCLUSIVE, "inconclusive", "inconclusive", "inconclusiveLimit",
             self.inconclusive_limit),
            (AnalysisPhase.ERROR, "consecutiveError", "consecutiveErrors",
             "consecutiveErrorLimit", self.consecutive_error_limit),
        )  # fmt: skip
        for limit_phase, key, label, limit_name, limit in limits:
            seen = counters.get(key, 0)
            if limit >= 0 and seen > limit:
                phase = limit_phase
                reason = f"{label} ({seen}) > {limit_name} ({limit})"
        return phase, reason

    def count_reached(self, counters: Mapping[str, int]) -> bool:
        return self.count is not None and counters.get("count", 0) >= self.count

    def wait_after(self, last_phase: AnalysisPhase) -> timedelta:
        """How long after a finished measurement the next one is due."""
        if last_phase is AnalysisPhase.ERROR or self.interval is None:
            return ERROR_RETRY_INTERVAL
        return self.interval


def is_empty(value: object) -> bool:
    """Whether a measured value holds no data: `[]` (no series), `None`, NaN, or a list of
    NaN only (a ratio over no traffic, `0/0`, is NaN in every series)."""
    return _no_data(value) is not None


def _no_data(value: object) -> str | None:
    """What a value without data is (`no series`, `null`, `NaN`, ...); None: it has data."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else None
    if isinstance(value, list):
        if not value:
            return "no series"
        if all(isinstance(item, float) and math.isnan(item) for item in value):
            return "NaN in every series"
    return None


@dataclass(frozen=True, slots=True)
class RunRules:
    metrics: tuple[MetricRules, ...]
    terminate: bool

    def metric(self, name: str) -> MetricRules | None:
        return next((rules for rules in self.metrics if rules.name == name), None)


_KNOWN_MAX = 1024  # runs whose rules are kept (a few KiB each)
_known: OrderedDict[tuple[str, str], RunRules] = OrderedDict()
_known_lock = threading.Lock()


def read_rules(run: Mapping[str, Any]) -> RunRules:
    """The rules of `run` (an AnalysisRun as a dict); `InvalidRun` if its spec is invalid.

    The rules of a spec seen recently are remembered (a run is read at least twice per
    measurement, and validating it was about a sixth of a measurement's CPU); they are
    immutable, so runs with the same spec share them."""
    spec = run.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidRun("spec: required: the metrics to measure")
    name = str((run.get("metadata") or {}).get("name") or "run")
    try:
        key = (name, json.dumps(spec, sort_keys=True))
    except (TypeError, ValueError):  # not JSON (never from the API server): not remembered
        return _read_rules(name, spec)
    with _known_lock:
        known = _known.get(key)
        if known is not None:
            _known.move_to_end(key)
            return known
    rules = _read_rules(name, spec)
    with _known_lock:
        _known[key] = rules
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)
    return rules


def _read_rules(name: str, spec: Mapping[str, Any]) -> RunRules:
    checked = check_object(
        {
            "apiVersion": API_VERSION,
            "kind": "AnalysisRun",
            "metadata": {"name": name},
            "spec": dict(spec),
        }
    )
    errors = [str(problem) for problem in checked.errors]
    if errors or not isinstance(checked.obj, AnalysisRun):
        raise InvalidRun("; ".join(errors) or "spec: not a valid AnalysisRun spec")
    model = checked.obj.spec
    metrics = tuple(
        _metric_rules(
            metric,
            f"spec.metrics[{index}]",
            dry_run=model.is_dry_run(metric.name),
            retention=model.measurement_retention_limit(metric.name),
        )
        for index, metric in enumerate(model.metrics)
    )
    return RunRules(metrics, terminate=bool(model.terminate))


def _metric_rules(metric: Metric, path: str, *, dry_run: bool, retention: int) -> MetricRules:
    if metric.provider.kind is None:
        kinds = ", ".join(metric.provider.kinds) or "none"
        raise InvalidRun(
            f"{path}.provider: {kinds} cannot be measured here; use prometheus, web or job"
        )
    conditions: list[Condition | None] = []
    for field_name, text in (
        ("successCondition", metric.success_condition),
        ("failureCondition", metric.failure_condition),
    ):
        if text is None or not text.strip():
            conditions.append(None)
            continue
        try:
            conditions.append(compile_condition(text))
        except ConditionError as error:
            raise InvalidRun(f"{path}.{field_name}: {error}") from None

    unresolved = metric.placeholders
    if unresolved:
        field_name, raw = next(iter(unresolved.items()))
        raise InvalidRun(
            f"{path}.{field_name}: {raw!r} was never substituted; give the "
            "argument a value where the run is created"
        )
    return MetricRules(
        name=metric.name,
        count=metric.effective_count,
        interval=None if metric.interval is None else metric.interval.resolved().timedelta,
        initial_delay=(
            None if metric.initial_delay is None else metric.initial_delay.resolved().timedelta
        ),
        failure_limit=metric.failure_limit_or_default,
        inconclusive_limit=metric.inconclusive_limit_or_default,
        consecutive_error_limit=metric.consecutive_error_limit_or_default,
        success=conditions[0],
        failure=conditions[1],
        dry_run=dry_run,
        retention=max(retention, 1),
        provider=metric.provider.kind,
        empty_result=(
            None if metric.empty_result is None else AnalysisPhase(metric.empty_result.value)
        ),
    )


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
