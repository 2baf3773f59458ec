"""One pass over one object: which notifications are due, and what is recorded (pure).

Applications (Argo CD's model: conditions over the object's state)::

    for each trigger someone subscribed to, for each of its conditions:
      true  -> due for every destination not yet in `notified` (nor waiting for a retry)
      false -> its entry (without oncePer) is forgotten, so the next time it becomes
               true it notifies again; entries with oncePer stay (once per that value)

Rollouts (Argo Rollouts' model: the controller's Kubernetes Events)::

    for each Event of the Rollout (or of an AnalysisRun it owns) younger than max_age:
      trigger = on-<reason in kebab case>; if someone subscribed to it and it is
      configured, each condition whose `when` holds (or is empty) is due once per Event
      (a Rollout's Event repeating another's reason and message within
      SAME_EVENT_SECONDS is the same one, recorded again after a conflicting write)

Then `settle` records the outcome of what was sent: delivered -> `notified`; failed ->
a retry after `retry.after_attempt`'s delay, or, past the bound or for an error that a
retry cannot fix, given up (recorded in `notified`, reported). A delivery waiting for its
retry is not due before its time; `Plan.wake_at` says when to look again.

Order against restarts (the controller's side): the deliveries of a pass are sent, then
both annotations are written in one patch. A crash between the two repeats those
deliveries after the restart; none is ever lost (at-least-once, as Argo's controller).

Neighbours: `subscriptions`, `triggers`, `state` and `retry` supply the parts; the
controller reads the caches, calls `plan_application` / `plan_rollout`, sends, calls
`settle`, and writes the annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollouts.notifications.config import NotificationConfig
from rollouts.notifications.retry import RetryPolicy, Verdict, after_attempt
from rollouts.notifications.state import Pending, read_notified, read_retries, state_key
from rollouts.notifications.subscriptions import Destination, destinations
from rollouts.notifications.triggers import (
    APPLICATION_NAMES,
    ROLLOUT_NAMES,
    run_trigger,
    trigger_for_reason,
)

__all__ = [
    "DEFAULT_EVENT_MAX_AGE",
    "SAME_EVENT_SECONDS",
    "Delivery",
    "EventView",
    "GivenUp",
    "Outcome",
    "Plan",
    "plan_application",
    "plan_rollout",
    "settle",
]

SAME_EVENT_SECONDS = 10.0
"""Two Events of one Rollout (same uid) with the same reason and message this close
together are one
happening told twice: the Rollout controller records a pass's Events before its status
write, and a write that conflicts (ours, recording a notification, is one cause) makes it
plan and record them again under new names. They notify once (Kubernetes' own event
recorder folds identical Events into one the same way). An AnalysisRun's Events are
never folded: their messages do not name the run, so two runs failing alike are two
happenings."""

DEFAULT_EVENT_MAX_AGE = 600.0
"""Events older than this (seconds) notify nobody: after a long outage, or when the
controller is first installed, the last hour of Events is history, not news."""


@dataclass(frozen=True)
class Delivery:
    key: str
    trigger: str
    destination: Destination
    templates: tuple[str, ...]
    attempt: int = 0
    not_before: float = 0.0
    """Unix time before which it is not sent (a Rollout Event waiting for its status)."""


@dataclass(frozen=True)
class EventView:
    """A Kubernetes Event about a Rollout (or about an AnalysisRun the Rollout owns)."""

    name: str
    reason: str
    at: datetime
    message: str = ""
    kind: str = "Rollout"
    """The involved object's kind: Rollout or AnalysisRun."""
    uid: str = ""
    """The involved object's uid."""
    version: str = ""
    """The involved object's resourceVersion the Event was recorded at (a Rollout's: the
    one its controller planned from)."""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool = False
    reason: str = ""


@dataclass(frozen=True)
class GivenUp:
    delivery: Delivery
    reason: str


@dataclass
class Plan:
    deliveries: list[Delivery] = field(default_factory=list)
    notified: dict[str, int] = field(default_factory=dict)
    retries: dict[str, Pending] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Condition errors, subscriptions naming what is not configured: for the log."""
    evaluations: list[tuple[str, bool]] = field(default_factory=list)
    """(trigger, triggered) per condition evaluated: for the metrics."""
    live: set[str] = field(default_factory=set)
    """Keys of deliveries whose condition holds in this pass (sent or not): their entries
    in `notified` must stay, else they are due again (`state.truncate`)."""

    @property
    def wake_at(self) -> float | None:
        """When the earliest waiting retry falls due (Unix time), if any."""
        return min((p.next for p in self.retries.values()), default=None)


def _consider(plan: Plan, previous: Mapping[str, Pending], delivery: Delivery,
              now: float) -> None:
    plan.live.add(delivery.key)
    if delivery.key in plan.notified or any(d.key == delivery.key for d in plan.deliveries):
        return  # sent before, or already due in this pass (two Events, one oncePer value)
    pending = previous.get(delivery.key)
    if pending is not None and pending.next > now:
        plan.retries[delivery.key] = pending
        return
    attempt = pending.attempts if pending is not None else 0
    plan.deliveries.append(Delivery(delivery.key, delivery.trigger, delivery.destination,
                                    delivery.templates, attempt, delivery.not_before))


def _start(obj: Mapping[str, Any], config: NotificationConfig
           ) -> tuple[Plan, dict[str, Pending], dict[str, list[Destination]]]:
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    plan = Plan(notified=read_notified(annotations))
    wanted = destinations(annotations, metadata.get("labels") or {}, config.subscriptions,
                          config.default_triggers, config.service_default_triggers)
    return plan, read_retries(annotations), wanted


def _usable(plan: Plan, config: NotificationConfig, trigger: str,
            targets: Sequence[Destination]) -> list[Destination]:
    usable = []
    for destination in targets:
        if destination.service in config.services:
            usable.append(destination)
        else:
            plan.problems.append(f"subscription to {trigger} names service "
                                 f"{destination.service!r}, which is not configured")
    return usable


def plan_application(app: Mapping[str, Any], config: NotificationConfig,
                     now: datetime) -> Plan:
    """The notifications due for the Application `app` (Argo CD's triggers)."""
    plan, previous, wanted = _start(app, config)
    stamp = now.timestamp()
    variables = {"app": app, "context": dict(config.context), "secrets": dict(config.secrets)}
    for trigger, targets in wanted.items():
        conditions = config.triggers.get(trigger)
        if conditions is None:
            plan.problems.append(f"trigger {trigger} is subscribed to but not configured")
            continue
        usable = _usable(plan, config, trigger, targets)
        for result in run_trigger(conditions, variables, now, names=APPLICATION_NAMES,
                                  empty_when_triggers=False):
            plan.evaluations.append((trigger, result.triggered))
            if result.error:
                plan.problems.append(f"trigger {trigger} {result.key}: {result.error}")
            for destination in usable:
                if not result.triggered:
                    plan.notified.pop(state_key(trigger, result.key, destination), None)
                    continue
                key = state_key(trigger, result.key, destination, result.once_per)
                _consider(plan, previous, Delivery(key, trigger, destination,
                                                   result.templates), stamp)
    return plan


def plan_rollout(rollout: Mapping[str, Any], events: Sequence[EventView],
                 config: NotificationConfig, now: datetime, *,
                 max_age: float = DEFAULT_EVENT_MAX_AGE, settle: float = 0.0,
                 others_wrote: int = 0) -> Plan:
    """The notifications due for the Rollout `rollout` from its `events`; each is sent
    no sooner than `settle` seconds after its Event (`Delivery.not_before`), unless it is
    the Rollout's own Event and `others_wrote` (the Rollout's resourceVersion, when the
    last write was not ours; 0 when it was, or unknown) is later than the version the
    Event names: the status write that follows the Event is in."""
    plan, previous, wanted = _start(rollout, config)
    stamp = now.timestamp()
    first_told: dict[tuple[str, str, str], EventView] = {}
    for event in sorted(events, key=lambda e: (e.at, e.name)):
        if event.kind == "Rollout":
            told = first_told.get((event.uid, event.reason, event.message))
            if told is not None and (event.at - told.at).total_seconds() <= SAME_EVENT_SECONDS:
                continue  # the same happening, recorded again after a conflict
            first_told[(event.uid, event.reason, event.message)] = event
        if stamp - event.at.timestamp() > max_age:
            continue
        trigger = trigger_for_reason(event.reason)
        targets = wanted.get(trigger)
        conditions = config.triggers.get(trigger)
        if not targets or conditions is None:
            continue
        usable = _usable(plan, config, trigger, targets)
        recorded_at = int(event.version) if event.version.isdigit() else 0
        written_since = event.kind == "Rollout" and 0 < recorded_at < others_wrote
        not_before = 0.0 if written_since else event.at.timestamp() + settle
        for result in run_trigger(conditions, {"rollout": rollout}, now, names=ROLLOUT_NAMES,
                                  empty_when_triggers=True):
            plan.evaluations.append((trigger, result.triggered))
            if result.error:
                plan.problems.append(f"trigger {trigger} {result.key}: {result.error}")
            if not result.triggered:
                continue
            for destination in usable:
                key = state_key(trigger, result.key, destination,
                                result.once_per or event.name)
                _consider(plan, previous, Delivery(key, trigger, destination,
                                                   result.templates, 0, not_before), stamp)
    return plan


def settle(plan: Plan, outcomes: Sequence[tuple[Delivery, Outcome]],
           policies: Mapping[str, RetryPolicy], now: datetime) -> list[GivenUp]:
    """Record `outcomes` in `plan.notified` / `plan.retries`; returns what was given up."""
    stamp = now.timestamp()
    given_up: list[GivenUp] = []
    for delivery, outcome in outcomes:
        if outcome.delivered:
            plan.notified[delivery.key] = int(stamp)
            plan.retries.pop(delivery.key, None)
            continue
        policy = policies.get(delivery.destination.service, RetryPolicy())
        decision = after_attempt(policy, delivery.attempt, retryable=outcome.retryable)
        if decision.verdict is Verdict.RETRY:
            plan.retries[delivery.key] = Pending(delivery.attempt + 1, stamp + decision.delay)
        else:
            plan.notified[delivery.key] = int(stamp)
            plan.retries.pop(delivery.key, None)
            given_up.append(GivenUp(delivery, outcome.reason))
    return given_up
