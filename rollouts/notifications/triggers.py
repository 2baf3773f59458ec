"""Triggers: when a notification is due, and which templates it sends (pure).

A trigger is a list of conditions, as in the ConfigMap::

    trigger.on-sync-succeeded: |
      - when: app.status.operationState.phase in ['Succeeded']
        send: [app-sync-succeeded]
        oncePer: app.status.operationState.syncResult.revision   # optional
        description: Application syncing has succeeded           # optional

`when` and `oncePer` are expr-lang expressions, evaluated by the analysis package's safe
evaluator (`analysis.evaluator`) with the trigger's variables: `app`, `context`,
`secrets` and `time` for Applications (Argo CD; its `repo`, `strings` and `sync`
helpers are not provided), `rollout` and `time` for Rollouts (Argo Rollouts).
`time.Now()` reads the `now` passed in.

Results follow notifications-engine: each condition gets the key `[<index>].<base64url
of the SHA-1 of its when>` (the state key of `state` includes it), a condition whose
evaluation fails is simply not triggered (the error is returned for the log), and
`oncePer`, evaluated only for a triggered condition, is printed as Go's `%v` would.
An empty `when` never triggers for Applications (Argo CD compiles it as `false`) and
always triggers for Rollouts (Argo Rollouts sends on the event itself).

Argo Rollouts names the trigger of a controller Event after its reason:
`trigger_for_reason("RolloutAborted") == "on-rollout-aborted"`.

Neighbours: `config` compiles every condition when it reads a trigger (a bad one is a
problem naming the trigger); `plan` runs them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from analysis.evaluator import Condition, ConditionError, compile_condition
from analysis.expr_time import TimeModule
from rollouts.templating.errors import FunctionError
from rollouts.templating.go_values import format_value

__all__ = [
    "APPLICATION_NAMES",
    "ROLLOUT_NAMES",
    "ConditionResult",
    "TriggerCondition",
    "compile_trigger",
    "condition_key",
    "run_trigger",
    "trigger_for_reason",
]

APPLICATION_NAMES = frozenset({"app", "context", "secrets", "time"})
ROLLOUT_NAMES = frozenset({"rollout", "time"})


@dataclass(frozen=True)
class TriggerCondition:
    when: str
    send: tuple[str, ...]
    once_per: str = ""
    description: str = ""


@dataclass(frozen=True)
class ConditionResult:
    key: str
    templates: tuple[str, ...]
    triggered: bool
    once_per: str = ""
    error: str | None = None


def condition_key(index: int, when: str) -> str:
    """notifications-engine's key of condition `index`: `[0].<sha1(when), base64url>`."""
    digest = hashlib.sha1(when.encode("utf-8")).digest()  # Argo's key, not security
    return f"[{index}].{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def _compile(text: str, names: frozenset[str]) -> Condition:
    return compile_condition(text, names, True)


def compile_trigger(conditions: Sequence[TriggerCondition], names: frozenset[str]) -> None:
    """Parse every `when` and `oncePer`; ValueError naming the first that does not parse."""
    for index, condition in enumerate(conditions):
        for field_name, text in (("when", condition.when), ("oncePer", condition.once_per)):
            if not text.strip():
                continue
            try:
                _compile(text, names)
            except ConditionError as problem:
                raise ValueError(f"[{index}].{field_name}: {problem}") from None


def run_trigger(conditions: Sequence[TriggerCondition], variables: Mapping[str, object],
                now: datetime, *, names: frozenset[str],
                empty_when_triggers: bool) -> list[ConditionResult]:
    """Each condition's result for `variables` (`time` is added, reading `now`)."""
    env = {**variables, "time": TimeModule(now)}
    results: list[ConditionResult] = []
    for index, condition in enumerate(conditions):
        key = condition_key(index, condition.when)
        error: str | None = None
        if not condition.when.strip():
            triggered = empty_when_triggers
        else:
            try:
                triggered = _compile(condition.when, names).evaluate_in(env)
            except ConditionError as problem:
                triggered, error = False, f"when: {problem}"
        once_per = ""
        if triggered and condition.once_per.strip():
            try:
                # fmt.Sprint, as notifications-engine keys it (floats as Go prints them).
                once_per = format_value(_compile(condition.once_per, names).value_in(env),
                                        top=False)
            except (ConditionError, FunctionError) as problem:
                # As notifications-engine: the notification still goes, keyed without it.
                error = f"oncePer: {problem}"
        results.append(ConditionResult(key, condition.send, triggered, once_per, error))
    return results


_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_ALL_CAP = re.compile(r"([a-z0-9])([A-Z])")


def trigger_for_reason(reason: str) -> str:
    """Argo Rollouts' trigger of an Event reason: `AnalysisRunFailed` ->
    `on-analysis-run-failed`, `ScalingReplicaSet` -> `on-scaling-replica-set`."""
    words = _ALL_CAP.sub(r"\1-\2", _FIRST_CAP.sub(r"\1-\2", reason))
    return "on-" + words.lower()
