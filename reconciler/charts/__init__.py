"""Helm charts from chart repositories: HTTP(S) repositories (`index.yaml`) and OCI registries.

An Application source with `chart:` names a chart in `repoURL` and a version or version
constraint in `targetRevision`; `ChartSource.resolve` turns that into a version,
`ChartSource.fetch` into an unpacked chart directory, which `reconciler.render` hands to
`helm template` with the source's `helm` options, exactly as for a chart kept in Git.

Modules: `semver` (versions and Masterminds constraints, pure), `index` (index.yaml,
pure), `urls` (repository URLs, where credentials and plain HTTP may go, pure),
`unpack` (hostile archives), `transport` (bounded HTTP), `oci` (the distribution API),
`creds` (what a repository Secret holds), `source` (the above, with caches).
Neighbours: `reconciler.app_source` (the caller), `reconciler.repo_creds` (Secrets).
"""

from reconciler.charts.creds import HelmCredentials
from reconciler.charts.semver import ConstraintProblem, is_version, max_version
from reconciler.charts.source import INDEX_TTL_SECONDS, ChartSource, default_chart_cache
from reconciler.charts.urls import ChartRepository, ChartURLProblem, chart_repository

__all__ = [
    "INDEX_TTL_SECONDS",
    "ChartRepository",
    "ChartSource",
    "ChartURLProblem",
    "ConstraintProblem",
    "HelmCredentials",
    "chart_repository",
    "default_chart_cache",
    "is_version",
    "max_version",
]
