"""Rollout gauges computed at scrape time from the Rollout informer cache.

Argo Rollouts' names, labels and phases, so its public Grafana dashboard works as is:

    rollout_info{namespace,name,strategy,traffic_router,phase} 1
    rollout_info_replicas_available{namespace,name}    status.availableReplicas
    rollout_info_replicas_unavailable{namespace,name}  status.replicas - availableReplicas
    rollout_info_replicas_desired{namespace,name}      spec.replicas (default 1)
    rollout_info_replicas_updated{namespace,name}      status.updatedReplicas

and ours: `rollout_canary_weight{namespace,name}` (`status.canary.weights.canary.weight`)
and `rollout_step{namespace,name}` (`status.currentStepIndex`, 0-based; equal to the
number of steps once complete). Each Rollout's lines are kept as text until its
resourceVersion changes (`object_blocks`); a Rollout no longer listed is dropped, so a
deleted Rollout's series are gone at the next scrape.

`phase` is Argo's metric phase, not `status.phase`: Completed, Progressing, Paused,
Timeout, Error, Abort or InvalidSpec (see `metric_phase`); a blue-green Rollout waiting
for promotion (BlueGreenPause) is Paused, an aborted one Abort, as for a canary.

Blue-green Rollouts (`strategy="blueGreen"`, `traffic_router=""`, Argo's label values)
have the `rollout_info*` series only: they have no weight and no steps, so
`rollout_canary_weight` and `rollout_step` have no series for them (not 0, which would
read as "all traffic on stable" or "at the first step"), whatever an old canary status
may still hold. Which ReplicaSet serves is in `status.blueGreen`, not a metric (Argo
exports none either).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rollouts.metrics.exposition import Family
from rollouts.metrics.object_blocks import ObjectBlocks, Row

__all__ = ["FAMILIES", "RolloutCollector", "metric_phase", "rollout_series", "strategy_and_router"]

NAMESPACE_NAME = ["namespace", "name"]
INFO_LABELS = [*NAMESPACE_NAME, "strategy", "traffic_router", "phase"]

# Argo's spelling of the traffic routers it labels.
_ROUTERS = {"alb": "ALB", "ambassador": "Ambassador", "istio": "Istio", "nginx": "Nginx",
            "smi": "SMI", "appMesh": "AppMesh", "traefik": "Traefik", "apisix": "Apisix",
            "plugins": "Plugins"}


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def metric_phase(rollout: dict[str, Any]) -> str:
    """Argo's `calculatePhase`, read from our status (worst first).

    InvalidSpec (the condition, or our `InvalidSpec:` message) > Abort > Timeout
    (progress deadline exceeded) > Paused > Completed (`phase: Healthy`) > Error (any
    other Degraded) > Progressing.
    """
    status = rollout.get("status") or {}
    progressing = (_condition(status, "Progressing") or {}).get("reason")
    if _condition(status, "InvalidSpec") or str(status.get("message") or "").startswith(
            "InvalidSpec"):
        return "InvalidSpec"
    if status.get("abort") or progressing == "RolloutAborted":
        return "Abort"
    if progressing == "ProgressDeadlineExceeded":
        return "Timeout"
    phase = status.get("phase")
    if phase == "Paused":
        return "Paused"
    if phase == "Healthy":
        return "Completed"
    if phase == "Degraded":
        return "Error"
    return "Progressing"


def strategy_and_router(rollout: dict[str, Any]) -> tuple[str, str]:
    """`("canary", "Istio")`, `("blueGreen", "")`, `("none", "")` as Argo labels them."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    if strategy.get("blueGreen") is not None:
        return "blueGreen", ""
    canary = strategy.get("canary")
    if canary is None:
        return "none", ""
    routing = (canary or {}).get("trafficRouting") or {}
    # As in Argo, the last router set in this order wins (a spec sets only one anyway).
    routers = [label for key, label in _ROUTERS.items() if routing.get(key) is not None]
    return "canary", routers[-1] if routers else ""


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


FAMILIES = (
    Family("rollout_info", "Information about rollout.", "gauge", INFO_LABELS),
    Family("rollout_info_replicas_available",
           "The number of available replicas per rollout.", "gauge", NAMESPACE_NAME),
    Family("rollout_info_replicas_unavailable",
           "The number of unavailable replicas per rollout.", "gauge", NAMESPACE_NAME),
    Family("rollout_info_replicas_desired",
           "The number of desired replicas per rollout.", "gauge", NAMESPACE_NAME),
    Family("rollout_info_replicas_updated",
           "The number of updated replicas per rollout.", "gauge", NAMESPACE_NAME),
    Family("rollout_canary_weight",
           "Current canary weight of the rollout (percent of traffic).", "gauge",
           NAMESPACE_NAME),
    Family("rollout_step",
           "Index of the rollout's current canary step (0-based; the number of steps "
           "once complete).", "gauge", NAMESPACE_NAME),
)
INFO, AVAILABLE, UNAVAILABLE, DESIRED, UPDATED, WEIGHT, STEP = range(len(FAMILIES))


def rollout_series(rollout: dict[str, Any]) -> Iterator[Row]:
    """The series of one Rollout, as rows of `FAMILIES`."""
    meta = rollout.get("metadata") or {}
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    strategy, router = strategy_and_router(rollout)
    yield INFO, (*key, strategy, router, metric_phase(rollout)), 1
    ready = _int(status.get("availableReplicas"))
    yield AVAILABLE, key, ready
    yield UNAVAILABLE, key, _int(status.get("replicas")) - ready
    yield DESIRED, key, _int(spec.get("replicas"), 1)
    yield UPDATED, key, _int(status.get("updatedReplicas"))
    if strategy != "canary":
        return  # no weight, no steps (see the module docstring)
    canary = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    if canary.get("weight") is not None:
        yield WEIGHT, key, _int(canary["weight"])
    if status.get("currentStepIndex") is not None:
        yield STEP, key, _int(status["currentStepIndex"])


class RolloutCollector(Collector):
    """Gauges over `list_rollouts()` (the informer's cached dicts); each Rollout's text
    is kept until its resourceVersion changes (`ObjectBlocks`)."""

    def __init__(self, list_rollouts: Callable[[], list[dict[str, Any]]]) -> None:
        self._list = list_rollouts
        self.blocks = ObjectBlocks(FAMILIES, rollout_series)

    def describe(self) -> Iterator[Metric]:
        for family in FAMILIES:
            yield family.metric()

    def collect(self) -> Iterator[Metric]:
        yield from self.blocks.collect(self._list())
