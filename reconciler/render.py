"""Render an Application's source (a path in a checkout) into Kubernetes objects.

    objects = render(checkout.path, app.spec.source, app_name="guestbook", namespace="web")

A source with `chart` is a chart from a repository: `checkout_dir` is then the unpacked
chart (`reconciler.charts`) and it is rendered with Helm. Otherwise the kind of source is
Argo CD's choice: the one configured (`helm`, `kustomize` or
`directory`; more than one is an error), else detected in the app path: a
kustomization file means Kustomize, else a `Chart.yaml` means Helm, else a plain
directory of manifests. Renderers: `render_directory`, `render_kustomize` (our built
kubectl), `render_helm` (our built helm); `reconciler.tools` finds the binaries.

The output is a list of JSON-ready dicts, each with apiVersion, kind and metadata.name
(or generateName), in source order. Namespaces are not filled in here: objects without
one get the destination namespace when they are applied. Any failure is a `RenderError`
with a one-line message naming the file or tool; nothing is returned partially, so the
caller changes nothing in the cluster.

The app path must stay inside the checkout: `../` escapes and symlinks leading out are
refused, and so are kustomizations that reach outside it (see `render_kustomize`).

Git content is untrusted: every render runs under a `RenderPolicy` (limits on bytes,
objects, YAML alias expansion, nesting and time, and whether kustomize may fetch remote
bases; the defaults are `render_base`'s constants), passed by the controller:

    render(path, source, app_name=..., namespace=..., policy=RenderPolicy(allow_remote_bases=True))
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.render_base import Object, RenderBudget, RenderError, RenderPolicy
from reconciler.render_directory import render_directory
from reconciler.render_helm import render_helm
from reconciler.render_kustomize import find_kustomization, render_kustomize
from rollouts.api.application import ApplicationSource

__all__ = [
    "DEFAULT_POLICY",
    "Object",
    "RenderError",
    "RenderPolicy",
    "SourceType",
    "app_directory",
    "render",
    "source_type",
]

DEFAULT_POLICY = RenderPolicy()
"""The limits used when the caller passes none (see `reconciler.render_base`)."""


class SourceType(StrEnum):
    """How a source is rendered (Argo CD's `status.sourceType` values)."""

    DIRECTORY = "Directory"
    KUSTOMIZE = "Kustomize"
    HELM = "Helm"


def render(
    checkout_dir: Path,
    source: ApplicationSource | Mapping[str, Any],
    *,
    app_name: str,
    namespace: str,
    policy: RenderPolicy = DEFAULT_POLICY,
    refs: Mapping[str, Path] | None = None,
) -> list[Object]:
    """The objects `source` describes in `checkout_dir`; `RenderError` if anything is wrong.

    `policy` bounds the render (bytes, objects, aliases, depth, time) and says whether
    kustomize may fetch remote bases; the whole render shares one budget. `refs` are the
    checkouts of a multi-source app's `ref` sources (Helm's `$ref/...` value files).
    """
    budget = RenderBudget(policy)
    spec = _as_source(source)
    root = checkout_dir.resolve()
    if spec.chart:
        # A chart from a repository (`reconciler.charts`): `checkout_dir` is the unpacked
        # chart itself, `path` is not used, and Helm is the only renderer (as in Argo CD).
        release = (spec.helm.release_name if spec.helm else None) or app_name
        return render_helm(root, root, spec.helm, release_name=release, namespace=namespace,
                           budget=budget, label=f"chart {spec.chart}", refs=refs)
    app_dir = app_directory(root, spec.path)
    kind = source_type(spec, app_dir)
    if kind is SourceType.HELM:
        release = (spec.helm.release_name if spec.helm else None) or app_name
        return render_helm(app_dir, root, spec.helm, release_name=release, namespace=namespace,
                           budget=budget, refs=refs)
    if kind is SourceType.KUSTOMIZE:
        return render_kustomize(app_dir, root, spec.kustomize, budget=budget)
    directory = spec.directory
    return render_directory(
        app_dir, root,
        recurse=bool(directory and directory.recurse),
        include=directory.include if directory else None,
        exclude=directory.exclude if directory else None,
        budget=budget,
    )


def source_type(source: ApplicationSource, app_dir: Path) -> SourceType:
    """The renderer for `source`: the configured one, else detected from the files."""
    if source.chart:
        return SourceType.HELM
    configured = source.source_types
    if len(configured) > 1:
        raise RenderError(
            f"spec.source configures {' and '.join(configured)}; choose one of them"
        )
    if configured:
        return SourceType(configured[0])
    if find_kustomization(app_dir) is not None:
        return SourceType.KUSTOMIZE
    if (app_dir / "Chart.yaml").is_file():
        return SourceType.HELM
    return SourceType.DIRECTORY


def app_directory(root: Path, path: str | None) -> Path:
    """`spec.source.path` inside the checkout `root` (resolved), refusing escapes."""
    relative = (path or ".").strip() or "."
    root = root.resolve()  # the checkout itself may sit behind a symlink
    candidate = (root / relative.lstrip("/")).resolve()
    if not candidate.is_relative_to(root):
        raise RenderError(
            f"spec.source.path {path!r} leads outside the repository; use a path inside it"
        )
    if not candidate.exists():
        raise RenderError(f"spec.source.path {path!r} does not exist in the repository")
    if not candidate.is_dir():
        raise RenderError(f"spec.source.path {path!r} is a file; it must be a directory")
    return candidate


def _as_source(source: ApplicationSource | Mapping[str, Any]) -> ApplicationSource:
    if isinstance(source, ApplicationSource):
        return source
    try:
        return ApplicationSource.model_validate(dict(source), by_alias=True, by_name=False)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RenderError(f"spec.source.{where}: {first['msg']}") from error
