"""`Application.status` and `Application.operation`: the reconciler's typed records.

`operation` is a request (a sync asked for by `rollouts app sync` or by automation);
`status.operationState` is how that request went; `status.sync` and `status.health` are
the result of the last comparison with Git and of the health checks.

The source/destination recorded here are typed loosely (plain dicts) on purpose: they are
copies of the spec at the time, and an older copy must still parse after the spec's model
grows.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rollouts.api.common import ApiModel, Bool, Int, Time
from rollouts.api.phases import HealthStatusCode, OperationPhase, SyncStatusCode

__all__ = [
    "ApplicationCondition",
    "ApplicationStatus",
    "ApplicationSummary",
    "ComparedTo",
    "HealthStatus",
    "Operation",
    "OperationInitiator",
    "OperationState",
    "ResourceResult",
    "ResourceStatus",
    "RevisionHistory",
    "SyncOperation",
    "SyncOperationResource",
    "SyncOperationResult",
    "SyncStatus",
]


class OperationInitiator(ApiModel):
    username: str | None = None
    automated: Bool | None = None


class SyncOperationResource(ApiModel):
    """One object to sync when syncing selectively."""

    group: str | None = None
    kind: str
    name: str
    namespace: str | None = None


class SyncOperation(ApiModel):
    revision: str | None = None
    prune: Bool | None = None
    dry_run: Bool | None = None
    sync_options: list[str] | None = None
    resources: list[SyncOperationResource] | None = None
    sync_strategy: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    revisions: list[str] | None = None
    """A multi-source sync: one revision per source (in `spec.sources` order)."""
    sources: list[dict[str, Any]] | None = None
    auto_heal_attempts_count: Int | None = None


class Operation(ApiModel):
    """A requested operation; only `sync` exists."""

    sync: SyncOperation | None = None
    initiated_by: OperationInitiator | None = None
    info: list[dict[str, Any]] | None = None
    retry: dict[str, Any] | None = None


class ResourceResult(ApiModel):
    """What a sync did to one object (`status`: Synced, SyncFailed, Pruned, PruneSkipped)."""

    group: str | None = None
    version: str | None = None
    kind: str
    namespace: str | None = None
    name: str
    status: str | None = None
    message: str | None = None
    hook_type: str | None = None
    hook_phase: str | None = None
    sync_phase: str | None = None
    images: list[str] | None = None


class SyncOperationResult(ApiModel):
    revision: str | None = None
    resources: list[ResourceResult] | None = None
    source: dict[str, Any] | None = None
    revisions: list[str] | None = None
    sources: list[dict[str, Any]] | None = None


class OperationState(ApiModel):
    operation: Operation | None = None
    phase: OperationPhase
    message: str | None = None
    sync_result: SyncOperationResult | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    retry_count: Int | None = None


class ComparedTo(ApiModel):
    source: dict[str, Any] | None = None
    sources: list[dict[str, Any]] | None = None
    destination: dict[str, Any] | None = None
    ignore_differences: list[dict[str, Any]] | None = None


class SyncStatus(ApiModel):
    status: SyncStatusCode
    revision: str | None = None
    revisions: list[str] | None = None
    compared_to: ComparedTo | None = None


class HealthStatus(ApiModel):
    status: HealthStatusCode | None = None
    message: str | None = None
    last_transition_time: Time | None = None


class ResourceStatus(ApiModel):
    """One object the Application tracks, with its sync and health state."""

    group: str | None = None
    version: str | None = None
    kind: str
    namespace: str | None = None
    name: str
    status: SyncStatusCode | None = None
    health: HealthStatus | None = None
    hook: Bool | None = None
    requires_pruning: Bool | None = None
    sync_wave: Int | None = None


class RevisionHistory(ApiModel):
    id: Int
    revision: str | None = None
    deployed_at: Time | None = None
    deploy_started_at: Time | None = None
    source: dict[str, Any] | None = None
    revisions: list[str] | None = None
    sources: list[dict[str, Any]] | None = None
    initiated_by: OperationInitiator | None = None


class ApplicationCondition(ApiModel):
    """A problem (`ComparisonError`, `SyncError`, ...) or notice about the Application."""

    type: str
    message: str
    last_transition_time: Time | None = None


class ApplicationSummary(ApiModel):
    images: list[str] | None = None
    external_urls: list[str] | None = Field(default=None, alias="externalURLs")


class ApplicationStatus(ApiModel):
    """Status of an Application, as Argo CD writes it.

    Example, an application synced to a commit and healthy after one automated sync::

        status:
          sync:
            status: Synced
            revision: 5f3c2a1e9b7d4c6a8e0f1b2d3c4e5f6a7b8c9d0e
            comparedTo:
              source: {repoURL: https://git.example.com/shop.git, path: web, targetRevision: HEAD}
              destination: {server: https://kubernetes.default.svc, namespace: shop}
          health: {status: Healthy}
          reconciledAt: "2024-05-01T12:00:05Z"
          sourceType: Directory
          resources:
          - {version: v1, kind: Service, namespace: shop, name: web, status: Synced,
             health: {status: Healthy}}
          - {group: argoproj.io, version: v1alpha1, kind: Rollout, namespace: shop, name: web,
             status: Synced, health: {status: Healthy}}
          operationState:
            phase: Succeeded
            message: successfully synced (all tasks run)
            startedAt: "2024-05-01T12:00:00Z"
            finishedAt: "2024-05-01T12:00:04Z"
            operation:
              sync: {revision: 5f3c2a1e9b7d4c6a8e0f1b2d3c4e5f6a7b8c9d0e, prune: true}
              initiatedBy: {automated: true}
            syncResult:
              revision: 5f3c2a1e9b7d4c6a8e0f1b2d3c4e5f6a7b8c9d0e
              resources:
              - {version: v1, kind: Service, namespace: shop, name: web, status: Synced,
                 message: service/web configured, syncPhase: Sync}
          history:
          - id: 1
            revision: 5f3c2a1e9b7d4c6a8e0f1b2d3c4e5f6a7b8c9d0e
            deployedAt: "2024-05-01T12:00:04Z"
            deployStartedAt: "2024-05-01T12:00:00Z"
    """

    sync: SyncStatus | None = None
    health: HealthStatus | None = None
    resources: list[ResourceStatus] | None = None
    operation_state: OperationState | None = None
    history: list[RevisionHistory] | None = None
    reconciled_at: Time | None = None
    observed_at: Time | None = None
    conditions: list[ApplicationCondition] | None = None
    source_type: str | None = None
    source_types: list[str] | None = None
    summary: ApplicationSummary | None = None
    controller_namespace: str | None = None
    resource_health_source: str | None = None
