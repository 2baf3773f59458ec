"""When to sync, and the `operationState` / `history` records of a sync: pure functions.

Three things start a sync operation (Argo CD's rules):

1. **a request**: `.operation = {sync: {revision, prune, dryRun, syncOptions, resources},
   initiatedBy: {username}}` on the Application (`rollouts app sync` writes it). It is
   started as soon as no other operation runs, and stays in place until the operation
   is over; the controller removes it *before* it records the end, so a crash in
   between leaves a Running operationState that is simply continued. A request without
   a revision syncs to the commit the target revision names *when it starts*
   (`syncs_to_current_commit`: the controller asks Git then, instead of using the last
   poll's answer), so `git push` then `rollouts app sync` deploys the pushed commit.
2. **automation** (`syncPolicy.automated`), when the app is OutOfSync and the revision
   (with the same source) was not attempted yet: one attempt per revision; a failed
   attempt is not repeated (that is what `retry` is for) and says so in a `SyncError`
   condition.
3. **self-heal** (`automated.selfHeal`), when the last attempt at this revision succeeded
   and the cluster drifted since: at once, but no sooner than `SELF_HEAL_DELAY` after
   the last operation finished, so a controller fighting over a field cannot make us
   apply in a tight loop.

Nothing starts automatically while an operation is running, when only pruning is needed
and pruning is off, or when the plan was refused (an empty render without allowEmpty).

An operation in progress lives in `status.operationState` only (phase Running), so it
is recomputed after a restart:

    operationState:
      operation: {sync: {revision: 5f3c..., prune: true}, initiatedBy: {automated: true}}
      phase: Running
      message: waiting for Sync wave 1
      startedAt: "2024-05-01T12:00:00Z"
      retryCount: 1                  # the second attempt
      finishedAt: ...                # only on a Running operation that waits to retry
      syncResult: {revision: 5f3c..., source: {...}, resources: [...]}

Retry (`syncPolicy.retry` or the request's `retry`): a failed attempt with retries left
stays Running with `finishedAt` set and `retryCount` raised; the next attempt starts at
`finishedAt + backoff.delay(retryCount)` with fresh results.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from reconciler.multisource import (
    SEPARATOR,
    recorded_revision,
    revision_fields,
    shown_revision,
)
from rollouts.api.application import Application, RetryStrategy
from rollouts.api.common import format_time
from rollouts.api.phases import OperationPhase, SyncStatusCode

__all__ = [
    "SELF_HEAL_DELAY",
    "Decision",
    "append_history",
    "decide_auto_sync",
    "finish_operation",
    "operation_id",
    "parse_time",
    "requested_operation",
    "retry_at",
    "start_operation",
    "syncs_to_current_commit",
]

Obj = dict[str, Any]

SELF_HEAL_DELAY = timedelta(seconds=2)
"""Least time between the end of an operation and a self-heal sync."""


@dataclass(frozen=True)
class Decision:
    """Whether to start an automated sync, and why (not)."""

    start: Obj | None = None
    """The operation to start (`{sync: {...}, initiatedBy: {automated: true}}`)."""
    self_heal: bool = False
    reason: str = ""
    condition: tuple[str, str] | None = None
    """A condition to show while the app stays OutOfSync (e.g. a failed attempt)."""
    wake_at: datetime | None = None
    """Look again then (a self-heal waiting for its delay)."""


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def requested_operation(raw: Obj) -> Obj | None:
    """The `.operation` a user asked for, if it is a sync."""
    operation = raw.get("operation")
    if isinstance(operation, dict) and isinstance(operation.get("sync"), dict):
        return operation
    return None


def syncs_to_current_commit(raw: Obj) -> bool:
    """Whether a requested sync without a revision is about to start (no operation is
    running): its commit is what Git says now, so Git must be asked in this pass."""
    requested = requested_operation(raw)
    if requested is None or recorded_revision(requested.get("sync")):
        return False
    state = (raw.get("status") or {}).get("operationState") or {}
    return state.get("phase") != OperationPhase.RUNNING.value


def decide_auto_sync(
    app: Application,
    *,
    sync_status: SyncStatusCode,
    revision: str,
    source: Obj | list[Obj] | None,
    operation_state: Obj | None,
    only_pruning: bool,
    refused: str | None,
    now: datetime,
) -> Decision:
    """Argo CD's `autoSync`: start an automated (or self-heal) sync, or say why not.
    `source` is the compared `spec.source`, or the `spec.sources` list of a multi-source
    app (whose `revision` is the joined per-source revisions)."""
    automated = app.spec.sync_policy_or_default.automated
    if automated is None:
        return Decision(reason="automated sync is off")
    state = operation_state or {}
    if state.get("phase") == OperationPhase.RUNNING.value:
        return Decision(reason="an operation is in progress")
    if sync_status is not SyncStatusCode.OUT_OF_SYNC:
        return Decision(reason=f"the app is {sync_status.value}")
    if only_pruning and not automated.prune:
        return Decision(reason="only pruning is needed and automated.prune is off")
    if refused:
        return Decision(reason=refused, condition=("SyncError", refused))
    result = state.get("syncResult") or {}
    recorded = result.get("sources") if "sources" in result else result.get("source")
    attempted = recorded_revision(result) == revision and (
        source is None or recorded in (None, source))
    if attempted:
        phase = str(state.get("phase") or "")
        if phase != OperationPhase.SUCCEEDED.value:
            message = (f"Failed sync attempt to {shown_revision(revision)}: "
                       f"{state.get('message') or phase}; "
                       "not retrying automatically (sync again, push a new commit, or "
                       "set syncPolicy.retry)")
            return Decision(reason="the last attempt at this revision failed",
                            condition=("SyncError", message))
        if not automated.self_heal:
            return Decision(reason="already synced to this revision and selfHeal is off")
        finished = parse_time(state.get("finishedAt"))
        if finished is not None and now < finished + SELF_HEAL_DELAY:
            return Decision(reason="self-heal waits for its delay",
                            wake_at=finished + SELF_HEAL_DELAY)
        return Decision(start=_automated(revision, bool(automated.prune),
                                         multiple=app.spec.has_multiple_sources), self_heal=True,
                        reason="self-heal: live objects drifted from Git")
    return Decision(start=_automated(revision, bool(automated.prune),
                                     multiple=app.spec.has_multiple_sources),
                    reason=f"automated sync to {shown_revision(revision)}")


def _automated(revision: str, prune: bool, *, multiple: bool) -> Obj:
    sync: Obj = revision_fields(revision, multiple=multiple)
    if prune:
        sync["prune"] = True
    return {"sync": sync, "initiatedBy": {"automated": True}}


def start_operation(operation: Obj, *, revision: str, source: Obj | None, now: datetime,
                    sources: list[Obj] | None = None) -> Obj:
    """A new Running operationState for `operation` at `revision` (a multi-source app:
    `sources` given, `revision` the joined per-source revisions, recorded as lists)."""
    result: Obj = {"revision": revision} if sources is None else \
        {"revisions": revision.split(SEPARATOR)}
    if sources is not None:
        result["sources"] = sources
    elif source is not None:
        result["source"] = source
    return {
        "operation": copy.deepcopy(operation),
        "phase": OperationPhase.RUNNING.value,
        "message": "sync started",
        "startedAt": format_time(now),
        "syncResult": result,
    }


def operation_id(state: Obj) -> str:
    """A stable id of this attempt (names of generated hooks derive from it)."""
    started = parse_time(state.get("startedAt"))
    stamp = str(int(started.timestamp())) if started is not None else "0"
    retries = int(state.get("retryCount") or 0)
    return f"{stamp}-{retries}" if retries else stamp


def _retry_strategy(app: Application, state: Obj) -> RetryStrategy | None:
    requested = (state.get("operation") or {}).get("retry")
    if isinstance(requested, dict) and requested:
        try:
            return RetryStrategy.model_validate(requested, by_alias=True, by_name=False)
        except ValidationError:
            return None
    return app.spec.sync_policy_or_default.retry


def finish_operation(app: Application, state: Obj, phase: OperationPhase, message: str,
                     now: datetime) -> Obj:
    """`state` ended with `phase`: the final record, or a Running one waiting to retry."""
    ended = copy.deepcopy(state)
    ended["finishedAt"] = format_time(now)
    retry = _retry_strategy(app, state)
    count = int(state.get("retryCount") or 0)
    if phase.successful or retry is None or retry.limit is None or \
            (0 <= retry.limit <= count):
        ended["phase"] = phase.value
        ended["message"] = message
        return ended
    delay = retry.backoff_or_default.delay(count + 1)
    ended["phase"] = OperationPhase.RUNNING.value
    ended["retryCount"] = count + 1
    at = now + timedelta(seconds=delay)
    ended["message"] = f"Retrying attempt #{count + 1} at {at:%H:%M:%S}: {message}"
    return ended


def retry_at(app: Application, state: Obj) -> datetime | None:
    """When a Running operation waiting to retry starts its next attempt (else None)."""
    if state.get("phase") != OperationPhase.RUNNING.value:
        return None
    finished = parse_time(state.get("finishedAt"))
    if finished is None:
        return None
    retry = _retry_strategy(app, state)
    backoff = retry.backoff_or_default if retry is not None else None
    delay = backoff.delay(int(state.get("retryCount") or 1)) if backoff is not None else 0.0
    return finished + timedelta(seconds=delay)


def append_history(history: list[Obj] | None, state: Obj, *, source: Obj | None,
                   now: datetime, limit: int, sources: list[Obj] | None = None) -> list[Obj]:
    """`status.history` with the succeeded operation `state` added (the newest `limit`);
    a multi-source app's entry has `revisions` and `sources` (Argo CD's)."""
    entries = [dict(entry) for entry in history or [] if isinstance(entry, dict)]
    next_id = max((int(entry.get("id") or 0) for entry in entries), default=-1) + 1
    result = state.get("syncResult") or {}
    entry: Obj = {"id": next_id}
    if sources is not None:
        entry["revisions"] = recorded_revision(result).split(SEPARATOR)
    else:
        entry["revision"] = result.get("revision")
    entry["deployedAt"] = format_time(now)
    if state.get("startedAt"):
        entry["deployStartedAt"] = state["startedAt"]
    if sources is not None:
        entry["sources"] = sources
    elif source is not None:
        entry["source"] = source
    initiated = (state.get("operation") or {}).get("initiatedBy")
    if initiated:
        entry["initiatedBy"] = initiated
    entries.append(entry)
    return entries[-limit:] if limit > 0 else []
