"""What the Experiment planner sees (`ObservedExperiment`), the record of one planning pass
(`ExperimentPass`) and the `ExperimentPlan` of intents it produces. Pure.

The controller (`rollouts.experiments.controller`) fills `ObservedExperiment` from its
caches; the executor carries the plan out in the order of its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollouts.api.common import format_time
from rollouts.api.experiment import Experiment
from rollouts.core.observed import AnalysisRunView, ReplicaSetView
from rollouts.core.work import Event

# Argo's keys: which Experiment and template a ReplicaSet or Service belongs to.
EXPERIMENT_NAME_ANNOTATION = "experiment.argoproj.io/name"
TEMPLATE_NAME_ANNOTATION = "experiment.argoproj.io/template-name"


@dataclass(frozen=True)
class ObservedExperiment:
    """Everything the planner reads besides the Experiment itself."""

    # Template name -> its ReplicaSet (owned by the Experiment, found by annotation).
    replica_sets: dict[str, ReplicaSetView]
    # Template name -> the name of its Service (owned by the Experiment).
    services: dict[str, str]
    # Names of the Services in the namespace that the Experiment does not own.
    other_services: frozenset[str]
    # AnalysisRuns owned by the Experiment, by name.
    analysis_runs: dict[str, AnalysisRunView]
    templates: dict[str, dict[str, Any]]
    cluster_templates: dict[str, dict[str, Any]]
    now: datetime


@dataclass
class ExperimentPlan:
    """Intents of one reconcile pass, carried out in this order by the executor."""

    status: dict[str, Any]
    create_replica_sets: list[dict[str, Any]] = field(default_factory=list)
    scale: dict[str, int] = field(default_factory=dict)
    # ReplicaSet name -> annotation changes (the `scale-down-deadline`).
    annotate_replica_sets: dict[str, dict[str, str | None]] = field(default_factory=dict)
    create_services: list[dict[str, Any]] = field(default_factory=list)
    delete_services: list[str] = field(default_factory=list)
    create_analysis_runs: list[dict[str, Any]] = field(default_factory=list)
    terminate_analysis_runs: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wake_at: dict[str, datetime] = field(default_factory=dict)
    requeue: bool = False

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append(Event("Warning" if warning else "Normal", reason, message))


@dataclass
class ExperimentPass:
    """The working state of one planning pass."""

    raw: dict[str, Any]
    experiment: Experiment
    observed: ObservedExperiment
    plan: ExperimentPlan
    # Argo's "terminating": spec.terminate, already finished, a template failed, an
    # analysis failed/errored/was inconclusive, or every required analysis succeeded —
    # judged on the status as stored, so a verdict acts from the next pass on.
    terminating: bool = False

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        return (self.raw.get("metadata") or {}).get("namespace")

    @property
    def now(self) -> datetime:
        return self.observed.now

    @property
    def now_text(self) -> str:
        return format_time(self.observed.now)

    @property
    def status(self) -> dict[str, Any]:
        return self.plan.status


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
