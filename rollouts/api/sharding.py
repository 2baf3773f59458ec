"""Argo Rollouts' `--instance-id` sharding: which Rollouts, Experiments and AnalysisRuns
one install serves.

An install started with `--instance-id ID` serves only objects labelled
`argo-rollouts.argoproj.io/controller-instance-id: ID`; an install without one serves
only objects without that label, so two installs on one cluster never act on the same
Rollout. The runs and Experiments a Rollout creates carry its label, so the same install
follows them. Used by the Rollout, analysis and experiment controllers' informers
(`rollouts.controller`, `analysis.controller`, `rollouts.experiments`) and by the pure
builders of child objects (`rollouts.core.analysis_runs`, `rollouts.experiments`).
"""

from __future__ import annotations

from collections.abc import Mapping

INSTANCE_ID_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"

__all__ = ["INSTANCE_ID_LABEL", "inherited_instance_label", "instance_selector"]


def instance_selector(instance_id: str) -> str:
    """The label selector of the objects an install with `instance_id` serves."""
    return f"{INSTANCE_ID_LABEL}={instance_id}" if instance_id else f"!{INSTANCE_ID_LABEL}"


def inherited_instance_label(parent_labels: Mapping[str, str] | None) -> dict[str, str]:
    """The instance label a child object copies from its parent (empty when it has none)."""
    value = (parent_labels or {}).get(INSTANCE_ID_LABEL)
    return {INSTANCE_ID_LABEL: str(value)} if value else {}
