"""What `rollouts plan` shows: the timeline of a Rollout, and its JSON shape. Pure.

`Timeline.to_json()` is the stable, documented shape of `rollouts plan -o json`
(`"version": 1`; fields are only ever added):

    {
      "version": 1,
      "rollout": {"name", "namespace"},
      "strategy": "canary" | "blueGreen",
      "replicas": N,                         # spec.replicas
      "trafficRouting": ["istio", ...] | null,  # routers the controller drives (null: none,
                                             # the weight is approximated by pod counts)
      "maxSurge": n, "maxUnavailable": n,    # in pods, as the controller resolves them
      "stages": [{
        "index": i | null,                   # canary: the step index; null: not a step
        "kind": "setWeight" | "pause" | "analysis" | "setCanaryScale" | "setHeaderRoute"
              | "setMirrorRoute" | "experiment" | "skipped" | "complete"     (canary)
              | "preview" | "prePromotionAnalysis" | "pause" | "promote"
              | "postPromotionAnalysis" | "complete"                     (blue-green),
        "title": "setWeight: 20",            # one line, as the table shows it
        "state": "done" | "current" | "pending",
        "weight": w | null,                  # canary traffic % at the end of the stage
        "replicas": {"new": n, "stable": n}, # ReplicaSet sizes at the end of the stage
                                             # (new: the canary / the preview set)
        "moves": [{"new": n, "stable": n}],  # sizes after each scaling pass on the way
        "services": {"active": "new"|"stable", "preview": ...} | null (blue-green),
        "startsAfterSeconds": s,             # earliest start, from the update (or from now)
        "minSeconds": s,                     # its shortest length
        "waits": "until promoted" | "unbounded: ..." | "unknown: ..." | null,
        "analysis": Gate | null, "experiment": {...} | null,
        "notes": ["..."]
      }],
      "background": Gate | null,             # canary spec.strategy.canary.analysis
      "minTotalSeconds": s,                  # sum of the shortest lengths
      "unbounded": ["step 3: pause until promoted", ...],   # what adds time not counted
      "current": i | null,                   # index into stages (live Rollouts)
      "notes": ["..."]
    }

    Gate = {"kind": "step" | "background" | "prePromotion" | "postPromotion",
            "templates": [{"name", "clusterScope", "found"}],
            "args": [{"name", "value" | null, "from"}],
            "metrics": [{"name", "provider", "query" | null, "interval", "count",
                         "initialDelay", "dryRun"}],
            "minSeconds": s | null, "waits": str | null,
            "startingStep": i | null}

Neighbours: `rollouts.timeline.build` makes it; `rollouts.timeline.render` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "VERSION",
    "Arg",
    "Gate",
    "MetricQuery",
    "Sizes",
    "Stage",
    "TemplateRef",
    "Timeline",
    "seconds_text",
]

VERSION = 1


@dataclass(frozen=True)
class Sizes:
    new: int
    stable: int

    def to_json(self) -> dict[str, int]:
        return {"new": self.new, "stable": self.stable}


@dataclass(frozen=True)
class TemplateRef:
    name: str
    cluster_scope: bool
    found: bool


@dataclass(frozen=True)
class Arg:
    name: str
    value: str | None  # None: not known offline (shown as its placeholder)
    source: str  # "rollout", "template default", "podTemplateHash Latest", ...


@dataclass(frozen=True)
class MetricQuery:
    name: str
    provider: str
    query: str | None
    interval: str | None
    count: str | None
    initial_delay: str | None
    dry_run: bool


@dataclass(frozen=True)
class Gate:
    kind: str
    templates: tuple[TemplateRef, ...]
    args: tuple[Arg, ...]
    metrics: tuple[MetricQuery, ...]
    min_seconds: float | None
    waits: str | None
    starting_step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "templates": [{"name": t.name, "clusterScope": t.cluster_scope, "found": t.found}
                          for t in self.templates],
            "args": [{"name": a.name, "value": a.value, "from": a.source} for a in self.args],
            "metrics": [{"name": m.name, "provider": m.provider, "query": m.query,
                         "interval": m.interval, "count": m.count,
                         "initialDelay": m.initial_delay, "dryRun": m.dry_run}
                        for m in self.metrics],
            "minSeconds": self.min_seconds,
            "waits": self.waits,
            "startingStep": self.starting_step,
        }


@dataclass
class Stage:
    index: int | None
    kind: str
    title: str
    replicas: Sizes
    moves: list[Sizes] = field(default_factory=list)
    weight: int | None = None
    services: dict[str, str] | None = None
    starts_after: float = 0.0
    min_seconds: float = 0.0
    waits: str | None = None
    analysis: Gate | None = None
    experiment: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    state: str = "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "kind": self.kind, "title": self.title, "state": self.state,
            "weight": self.weight, "replicas": self.replicas.to_json(),
            "moves": [m.to_json() for m in self.moves], "services": self.services,
            "startsAfterSeconds": self.starts_after, "minSeconds": self.min_seconds,
            "waits": self.waits,
            "analysis": self.analysis.to_json() if self.analysis else None,
            "experiment": self.experiment, "notes": list(self.notes),
        }


@dataclass
class Timeline:
    name: str
    namespace: str | None
    strategy: str
    replicas: int
    routers: tuple[str, ...] | None
    max_surge: int
    max_unavailable: int
    stages: list[Stage]
    background: Gate | None = None
    current: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def min_total_seconds(self) -> float:
        return sum(stage.min_seconds for stage in self.stages if stage.state != "done")

    @property
    def unbounded(self) -> list[str]:
        found = []
        for stage in self.stages:
            if stage.state == "done" or not stage.waits:
                continue
            where = f"step {stage.index + 1}" if stage.index is not None else stage.kind
            said = stage.title if stage.waits in stage.title else (
                f"{stage.title}: {stage.waits}")
            found.append(f"{where}: {said}")
        return found

    def retime(self) -> None:
        """Each stage's earliest start: the shortest lengths of the stages before it
        that are not done."""
        elapsed = 0.0
        for stage in self.stages:
            stage.starts_after = elapsed
            if stage.state != "done":
                elapsed += stage.min_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "rollout": {"name": self.name, "namespace": self.namespace},
            "strategy": self.strategy,
            "replicas": self.replicas,
            "trafficRouting": list(self.routers) if self.routers is not None else None,
            "maxSurge": self.max_surge,
            "maxUnavailable": self.max_unavailable,
            "stages": [stage.to_json() for stage in self.stages],
            "background": self.background.to_json() if self.background else None,
            "minTotalSeconds": self.min_total_seconds,
            "unbounded": self.unbounded,
            "current": self.current,
            "notes": list(self.notes),
        }


def seconds_text(seconds: float) -> str:
    """`90` -> `1m30s`, `3600` -> `1h`, `0.5` -> `0.5s`."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (
        f"{secs}s" if secs or not (hours or minutes) else "")
    return text
