"""The canary `experiment` step: run an Experiment beside the canary and follow its
verdict. Pure. Not carried out yet: the step is skipped with a Warning."""

from __future__ import annotations

from rollouts.api.rollout import CanaryStep
from rollouts.core.work import Pass

__all__ = ["experiment_step", "experiment_weights"]


def experiment_step(work: Pass, step: CanaryStep) -> str | None:
    """Plan the step; the detail to advance with once it is done, else None."""
    work.plan.event("StepNotSupported",
                    f"Step {work.step_index + 1} (experiment) is not supported yet; skipped",
                    warning=True)
    return "skipped unsupported step: experiment"


def experiment_weights(work: Pass) -> tuple[tuple[str, int, str | None], ...]:
    """Traffic shares of the running step's experiment templates (service, weight, hash)."""
    return ()
