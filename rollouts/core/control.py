"""Pauses, abort and retry, for both strategies: pure updates of the status record.

- A pause the controller sets is a `pauseConditions[{reason, startTime}]` entry plus
  `controllerPause: true`; `promote` removes the entry. A pause condition gone while
  `controllerPause` is still true therefore means "promoted".
- `abort` (from the CLI, a failed analysis or a progress deadline with
  `progressDeadlineAbort`) records `abortedAt` once, terminates runs and says why.
- `retry` clears `abort`: the next pass starts the revision over, with fresh runs.
"""

from __future__ import annotations

from typing import Any

from rollouts.core import conditions
from rollouts.core.work import Pass, now_text


def pause_conditions(work: Pass) -> list[dict[str, Any]]:
    return list(work.status.get("pauseConditions") or [])


def has_pause(work: Pass, reason: str) -> bool:
    return any(c.get("reason") == reason for c in pause_conditions(work))


def set_pause(work: Pass, reason: str) -> None:
    entries = pause_conditions(work)
    entries.append({"reason": reason, "startTime": now_text(work)})
    work.status["pauseConditions"] = entries
    work.status["controllerPause"] = True
    where = f" at step {work.step_index + 1}" if work.is_canary else ""
    work.plan.event("RolloutPaused", f"Rollout paused{where} ({reason})")


def clear_pause(work: Pass, reason: str) -> None:
    remaining = [c for c in pause_conditions(work) if c.get("reason") != reason]
    if remaining:
        work.status["pauseConditions"] = remaining
    else:
        work.status.pop("pauseConditions", None)


def terminate_runs(work: Pass) -> None:
    for run in work.observed.analysis_runs:
        if not run.phase.completed and not run.terminated and (
                run.name not in work.plan.terminate_analysis_runs):
            work.plan.terminate_analysis_runs.append(run.name)


def abort(work: Pass, message: str | None) -> None:
    status = work.status
    first = not status.get("abortedAt")
    if first:
        status["abortedAt"] = now_text(work)
        if work.is_canary:
            status["currentStepIndex"] = 0
        text = message or f"RolloutAborted: Rollout aborted update to revision {work.revision}"
        status["message"] = text
        work.plan.event("RolloutAborted", text.removeprefix("RolloutAborted: "), warning=True)
        work.plan.requeue = True
    elif message:
        status["message"] = message
    status.pop("pauseConditions", None)
    status["controllerPause"] = False
    terminate_runs(work)


def aborted_message(work: Pass) -> str | None:
    """The stored abort message, if the status already carries one."""
    message = str(work.status.get("message", ""))
    return message if message.startswith("RolloutAborted") else None


def handle_retry(work: Pass, run_prefix: str, *, first_step: str) -> bool:
    """`retry` cleared `abort` after an abort: start over. True when it did."""
    status = work.status
    if status.get("abort") or not status.get("abortedAt"):
        return False
    status.pop("abortedAt", None)
    if work.is_canary:
        status["currentStepIndex"] = 0
    for run in work.observed.analysis_runs:
        if run.name.startswith(run_prefix):
            work.plan.delete_analysis_runs.append(run.name)
    work.plan.event("RolloutRetried", f"Rollout retried from {first_step}")
    conditions.set_condition(status, "Progressing", True, "RolloutRetried",
                             "Rollout retried", work.now, touch=True)
    return True
