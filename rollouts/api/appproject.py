"""The `AppProject` kind (Argo CD's): what the Applications of a project may use and touch.

Field names are Argo CD's (`argoproj.io/v1alpha1`), so existing project manifests parse
unchanged. A project says which Git repositories its Applications may render
(`sourceRepos`), where they may deploy (`destinations`), which kinds they may create
(`clusterResource*` and `namespaceResource*` white/blacklists), from which namespaces
Applications may use it (`sourceNamespaces`), when they may sync (`syncWindows`) and
whether untracked objects in their namespace are reported (`orphanedResources`).

    apiVersion: argoproj.io/v1alpha1
    kind: AppProject
    metadata: {name: team-a, namespace: argocd}
    spec:
      sourceRepos: ['https://github.com/acme/*']
      destinations: [{server: https://kubernetes.default.svc, namespace: 'team-a-*'}]
      clusterResourceWhitelist: [{group: '', kind: Namespace}]
      syncWindows:
      - {kind: deny, schedule: '0 22 * * *', duration: 8h, applications: ['*']}

The rules that read these fields are `reconciler.projects` (pure functions); the lint
rules are `rollouts.api.rules_appproject`. Argo's RBAC fields (`roles`, JWT tokens) and
commit signature keys belong to Argo CD's API server, which rollouts does not have: they
are accepted and reported as not supported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from rollouts.api.common import API_VERSION, ApiModel, Bool, ObjectMeta
from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError

__all__ = [
    "DEFAULT_TIME_ZONE",
    "AppProject",
    "AppProjectSpec",
    "AppProjectStatus",
    "ClusterResourceRestriction",
    "GroupKind",
    "OrphanedResourceKey",
    "OrphanedResources",
    "ProjectDestination",
    "SyncWindow",
]

DEFAULT_TIME_ZONE = "UTC"
"""The time zone of a sync window that names none (Argo CD's default)."""


class ProjectDestination(ApiModel):
    """A cluster (by `server` URL or `name`) and namespace that Applications may deploy to.

    Each field is a glob; a leading `!` makes the entry a denial.
    """

    server: str | None = None
    namespace: str | None = None
    name: str | None = None


class GroupKind(ApiModel):
    """A group/kind pair of a namespaced-resource white/blacklist (globs; core group '')."""

    group: str
    kind: str


class ClusterResourceRestriction(ApiModel):
    """A group/kind (and optionally name) of a cluster-resource white/blacklist (globs)."""

    group: str
    kind: str
    name: str | None = None
    """Only objects with a matching name (Go filepath.Match glob); all of them when empty."""


class OrphanedResourceKey(ApiModel):
    """Objects never reported as orphaned: group, kind and name globs (empty kind/name: any)."""

    group: str | None = None
    kind: str | None = None
    name: str | None = None


class OrphanedResources(ApiModel):
    """Report objects in an Application's namespace that no Application tracks."""

    warn: Bool | None = None
    """Set an OrphanedResourceWarning condition on the Application (default true)."""
    ignore: list[OrphanedResourceKey] | None = None

    @property
    def warn_or_default(self) -> bool:
        return True if self.warn is None else self.warn


class SyncWindow(ApiModel):
    """A recurring time span in which syncs are allowed (`allow`) or blocked (`deny`).

    The window opens at each fire time of `schedule` (five-field cron, in `timeZone`) and
    stays open for `duration` (a Go duration such as `1h30m`). It applies to Applications
    matched by `applications` (names), `namespaces` (destination namespace) or `clusters`
    (destination server or name): any one of them, or all the given ones with `andOperator`.
    """

    unsupported_fields: ClassVar[dict[str, str]] = {
        "syncOverrun": "a sync that started in a window is not told apart from a new one",
    }

    kind: str | None = None
    schedule: str | None = None
    duration: str | None = None
    applications: list[str] | None = None
    namespaces: list[str] | None = None
    clusters: list[str] | None = None
    manual_sync: Bool | None = None
    """Let a manual sync (`rollouts app sync`) through when this window would block it."""
    time_zone: str | None = None
    and_operator: Bool | None = None
    description: str | None = None

    @property
    def time_zone_or_default(self) -> str:
        return self.time_zone or DEFAULT_TIME_ZONE

    @property
    def manual_sync_or_default(self) -> bool:
        return bool(self.manual_sync)

    def length(self) -> timedelta:
        """`duration` as a timedelta; `SpecError` when Argo CD (Go) would not parse it."""
        text = (self.duration or "").strip()
        if not text:
            raise SpecError("required: how long the window stays open, e.g. 1h or 30m")
        if text.lstrip("+-").isdigit() and text.lstrip("+-") != "0":
            raise SpecError(f"{text!r} has no unit: write e.g. {text}s, 30m or 1h30m")
        length = Duration(text).timedelta
        if length <= timedelta(0):
            raise SpecError(f"{text!r}: a window must stay open for more than 0s")
        return length


class AppProjectSpec(ApiModel):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "roles": "project roles grant access through Argo CD's API server, which rollouts "
                 "does not have; use Kubernetes RBAC on Applications",
        "signatureKeys": "commit signature verification is not implemented",
        "permitOnlyProjectScopedClusters": "project-scoped clusters are not enforced (a "
                                           "cluster Secret's project field restricts "
                                           "nothing); restrict spec.destinations instead",
        "destinationServiceAccounts": "syncs always use the controller's service account",
    }

    description: str | None = None
    source_repos: list[str] | None = None
    destinations: list[ProjectDestination] | None = None
    cluster_resource_whitelist: list[ClusterResourceRestriction] | None = None
    cluster_resource_blacklist: list[ClusterResourceRestriction] | None = None
    namespace_resource_whitelist: list[GroupKind] | None = None
    """None allows every namespaced kind; an explicit empty list allows none (as Argo)."""
    namespace_resource_blacklist: list[GroupKind] | None = None
    orphaned_resources: OrphanedResources | None = None
    sync_windows: list[SyncWindow] | None = None
    source_namespaces: list[str] | None = None


class AppProjectStatus(ApiModel):
    """Written by Argo CD's API server (JWT tokens of roles); kept as given."""

    jwt_tokens_by_role: dict[str, Any] | None = Field(default=None, alias="jwtTokensByRole")


class AppProject(ApiModel):
    """What the Applications naming this project may render, deploy, create and when."""

    api_version: str = API_VERSION
    kind: Literal["AppProject"] = "AppProject"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AppProjectSpec
    status: AppProjectStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name or ""
