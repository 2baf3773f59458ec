"""The `Application` kind (Argo CD's): what to render from Git, where to apply it, how to sync.

Field names are Argo CD's (`argoproj.io/v1alpha1`), for the subset in DESIGN.md section 3.
The status record lives in `rollouts.api.application_status`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from rollouts.api import defaults
from rollouts.api.application_status import ApplicationStatus, Operation
from rollouts.api.common import API_VERSION, ApiModel, Bool, Int, ObjectMeta
from rollouts.api.duration import Duration

__all__ = [
    "REFRESH_ANNOTATION",
    "REFRESH_HARD",
    "REFRESH_NORMAL",
    "Application",
    "ApplicationDestination",
    "ApplicationSource",
    "ApplicationSourceDirectory",
    "ApplicationSourceHelm",
    "ApplicationSourceKustomize",
    "ApplicationSpec",
    "Backoff",
    "HelmParameter",
    "InfoItem",
    "ResourceIgnoreDifferences",
    "RetryStrategy",
    "SyncPolicy",
    "SyncPolicyAutomated",
]

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
"""Argo CD's refresh request on an Application: `normal` (ask Git now) or `hard` (also
render again); the controller removes it once the status is written."""
REFRESH_NORMAL, REFRESH_HARD = "normal", "hard"

KNOWN_SYNC_OPTIONS: dict[str, str] = {
    "CreateNamespace": "true|false",
    "PruneLast": "true|false",
    "ServerSideApply": "true|false",
    "ApplyOutOfSyncOnly": "true|false",
    "Validate": "true|false",
    "PrunePropagationPolicy": "foreground|background|orphan",
}
"""Sync options we implement, with the values each takes."""

UNSUPPORTED_SYNC_OPTIONS: dict[str, str] = {
    "Replace": "objects are always applied, never replaced",
    "FailOnSharedResource": "objects tracked by another Application are not detected",
    "RespectIgnoreDifferences": "ignoreDifferences only affects the diff, not what is applied",
    "SkipDryRunOnMissingResource": "the dry run is never skipped",
    "Prune": "set per object with the argocd.argoproj.io/sync-options annotation",
    "Delete": "set per object with the argocd.argoproj.io/sync-options annotation",
    "ClientSideApplyMigration": "there is no client-side apply to migrate from",
}
"""Argo CD sync options we accept but do not implement (a warning), with a note each."""


class ApplicationSourceDirectory(ApiModel):
    """Plain YAML/JSON manifests in `path`."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "jsonnet": "Jsonnet rendering is not implemented",
    }

    recurse: Bool | None = None
    include: str | None = None
    """A glob (or `{a.yaml,b.yaml}`) of files to read; all *.yaml, *.yml, *.json otherwise."""
    exclude: str | None = None


class ApplicationSourceKustomize(ApiModel):
    """Options passed to `kustomize build` (as an overlay, so the repo is not changed)."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        name: "this Kustomize option is not implemented"
        for name in (
            "version",
            "forceCommonLabels",
            "forceCommonAnnotations",
            "commonAnnotationsEnvsubst",
            "labelWithoutSelector",
            "labelIncludeTemplates",
            "replicas",
            "patches",
            "components",
            "ignoreMissingComponents",
            "kubeVersion",
            "apiVersions",
        )
    }

    name_prefix: str | None = None
    name_suffix: str | None = None
    images: list[str] | None = None
    common_labels: dict[str, str] | None = None
    common_annotations: dict[str, str] | None = None
    namespace: str | None = None


class HelmParameter(ApiModel):
    """A `--set name=value` for `helm template`."""

    name: str
    value: str | None = None
    force_string: Bool | None = None
    """Pass the value with `--set-string` (never read as a number or bool)."""


class ApplicationSourceHelm(ApiModel):
    """Options passed to `helm template`, for a chart in Git or from a chart repository."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        name: "this Helm option is not implemented"
        for name in (
            "fileParameters",
            "passCredentials",
            "ignoreMissingValueFiles",
            "skipCrds",
            "skipSchemaValidation",
            "skipTests",
            "version",
            "namespace",
            "kubeVersion",
            "apiVersions",
        )
    }

    value_files: list[str] | None = None
    values: str | None = None
    """A YAML document of values, applied after `valueFiles`."""
    values_object: dict[str, Any] | None = None
    """Values as an object, applied after `values` (Argo CD's precedence)."""
    parameters: list[HelmParameter] | None = None
    release_name: str | None = None


class ApplicationSource(ApiModel):
    """Where the manifests come from: a Git repository, a revision and a path in it; or,
    with `chart`, a chart in a Helm repository (or OCI registry) at `repoURL`, whose
    version or version constraint is `targetRevision` (`path` is then not used)."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "plugin": "config management plugins are not implemented",
    }

    repo_url: str = Field(alias="repoURL")
    path: str | None = None
    chart: str | None = None
    target_revision: str | None = None
    directory: ApplicationSourceDirectory | None = None
    kustomize: ApplicationSourceKustomize | None = None
    helm: ApplicationSourceHelm | None = None
    ref: str | None = None
    """In `spec.sources`: the name other sources' Helm `valueFiles` use as `$<ref>/path`
    (the root of this source's checkout). Without `path` the source renders nothing."""
    name: str | None = None
    """In `spec.sources`: a name for this source (messages name it)."""

    @property
    def is_ref_only(self) -> bool:
        """A `ref` source without `path` (or `chart`): only a place for value files."""
        return bool(self.ref) and not self.path and not self.chart

    @property
    def target_revision_or_default(self) -> str:
        return self.target_revision or defaults.TARGET_REVISION

    @property
    def source_types(self) -> list[Literal["Directory", "Kustomize", "Helm"]]:
        """The renderers configured explicitly (a valid source has at most one)."""
        found: list[Literal["Directory", "Kustomize", "Helm"]] = []
        if self.directory is not None:
            found.append("Directory")
        if self.kustomize is not None:
            found.append("Kustomize")
        if self.helm is not None:
            found.append("Helm")
        return found


class ApplicationDestination(ApiModel):
    """The cluster, by `server` URL or registered `name` (one of them), and the default
    namespace. `https://kubernetes.default.svc` / `in-cluster` is the controller's own."""

    server: str | None = None
    name: str | None = None
    namespace: str | None = None

    @property
    def server_or_default(self) -> str:
        return self.server or defaults.IN_CLUSTER_SERVER

    @property
    def is_in_cluster(self) -> bool:
        """Whether this names the controller's own cluster by its well-known server URL
        or name (a cluster Secret may rename it; the reconciler resolves that)."""
        if self.name and not self.server:
            return self.name == defaults.IN_CLUSTER_NAME
        return self.server_or_default.rstrip("/") == defaults.IN_CLUSTER_SERVER


class SyncPolicyAutomated(ApiModel):
    """Sync on every new revision; `prune` deletes what left Git, `selfHeal` undoes drift."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "enabled": "automated sync is on whenever the automated block is present",
    }

    prune: Bool | None = None
    self_heal: Bool | None = None
    allow_empty: Bool | None = None


class Backoff(ApiModel):
    duration: Duration | None = None
    factor: Int | None = None
    max_duration: Duration | None = None

    @property
    def duration_or_default(self) -> Duration:
        return self.duration or Duration(defaults.RETRY_BACKOFF_DURATION)

    @property
    def factor_or_default(self) -> int:
        return defaults.RETRY_BACKOFF_FACTOR if self.factor is None else self.factor

    @property
    def max_duration_or_default(self) -> Duration:
        return self.max_duration or Duration(defaults.RETRY_BACKOFF_MAX_DURATION)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        growth: int = self.factor_or_default ** min(max(attempt - 1, 0), 64)
        return min(self.duration_or_default.seconds * growth, self.max_duration_or_default.seconds)


class RetryStrategy(ApiModel):
    """Retry a failed sync `limit` times (a negative limit retries forever)."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "refresh": "a retry always uses the revision of the failed sync",
    }

    limit: Int | None = None
    backoff: Backoff | None = None

    @property
    def backoff_or_default(self) -> Backoff:
        return self.backoff or Backoff()


class SyncPolicy(ApiModel):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "managedNamespaceMetadata": "labels/annotations on created namespaces are not implemented",
    }

    automated: SyncPolicyAutomated | None = None
    sync_options: list[str] | None = None
    retry: RetryStrategy | None = None

    def sync_option(self, name: str) -> str | None:
        """The value of sync option `name` (`CreateNamespace=true` -> `true`), if set."""
        for option in self.sync_options or []:
            key, _, value = option.partition("=")
            if key.strip() == name:
                return value.strip()
        return None

    def sync_option_enabled(self, name: str) -> bool:
        return (self.sync_option(name) or "").lower() == "true"


class ResourceIgnoreDifferences(ApiModel):
    """Fields of matching live objects that never count as drift."""

    group: str | None = None
    kind: str
    name: str | None = None
    namespace: str | None = None
    json_pointers: list[str] | None = None
    jq_path_expressions: list[str] | None = None
    managed_fields_managers: list[str] | None = None


class InfoItem(ApiModel):
    """Free-form information shown with the Application."""

    name: str
    value: str


class ApplicationSpec(ApiModel):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "sourceHydrator": "source hydration is not implemented",
    }

    source: ApplicationSource | None = None
    sources: list[ApplicationSource] | None = None
    """Several sources rendered into one set of objects (Argo CD's multi-source app);
    exclusive with `source` (`reconciler.app_sources`)."""
    destination: ApplicationDestination
    project: str | None = None
    """The AppProject (in the controller's namespace) that bounds this Application;
    `default` when empty (`reconciler.projects`)."""
    sync_policy: SyncPolicy | None = None
    ignore_differences: list[ResourceIgnoreDifferences] | None = None
    info: list[InfoItem] | None = None
    revision_history_limit: Int | None = None

    @property
    def has_multiple_sources(self) -> bool:
        """Argo CD's rule: a non-empty `sources` makes the app multi-source."""
        return bool(self.sources)

    @property
    def revision_history_limit_or_default(self) -> int:
        if self.revision_history_limit is None:
            return defaults.APPLICATION_HISTORY_LIMIT
        return self.revision_history_limit

    @property
    def sync_policy_or_default(self) -> SyncPolicy:
        return self.sync_policy or SyncPolicy()


class Application(ApiModel):
    """A set of objects rendered from Git and kept applied to the cluster."""

    api_version: str = API_VERSION
    kind: Literal["Application"] = "Application"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ApplicationSpec
    status: ApplicationStatus | None = None
    operation: Operation | None = None
    """A requested sync (`rollouts app sync` writes it, the controller clears it)."""
