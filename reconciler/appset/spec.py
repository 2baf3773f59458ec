"""An ApplicationSet's spec, read and checked (pure): what the controller acts on.

    apiVersion: argoproj.io/v1alpha1
    kind: ApplicationSet
    metadata: {name: guestbook, namespace: rollouts}
    spec:
      goTemplate: true
      goTemplateOptions: ["missingkey=error"]
      generators:
      - list:
          elements: [{cluster: dev}, {cluster: prod}]
      template:
        metadata: {name: 'guestbook-{{.cluster}}'}
        spec: {project: default, source: {...}, destination: {...}}
      syncPolicy:
        applicationsSync: create-update      # create-only | create-update | create-delete | sync
        preserveResourcesOnDeletion: true
      preservedFields: {annotations: [...], labels: [...]}

`read_spec(raw)` returns an `AppSetSpec` or raises `SpecProblem` with one line naming the
field. The generators themselves are checked as they run (`reconciler.appset.generators`).
Fields we accept but do not implement (`strategy`, `templatePatch`,
`ignoreApplicationDifferences`) are listed in `AppSetSpec.unsupported`, so the controller
names them in a Warning event instead of ignoring them silently.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.appset.render import Engine

__all__ = ["AppSetSpec", "SpecProblem", "SyncPolicy", "read_spec"]


class SpecProblem(ValueError):
    """The spec is wrong: one line naming the field and what to do."""


class SyncPolicy(enum.Enum):
    """`syncPolicy.applicationsSync`: what the controller may do to its Applications."""

    CREATE_ONLY = "create-only"
    CREATE_UPDATE = "create-update"
    CREATE_DELETE = "create-delete"
    SYNC = "sync"

    @property
    def allows_update(self) -> bool:
        return self in (SyncPolicy.CREATE_UPDATE, SyncPolicy.SYNC)

    @property
    def allows_delete(self) -> bool:
        return self in (SyncPolicy.CREATE_DELETE, SyncPolicy.SYNC)


_GO_OPTIONS = ("missingkey=default", "missingkey=invalid", "missingkey=zero",
               "missingkey=error")
_UNSUPPORTED = ("strategy", "templatePatch", "ignoreApplicationDifferences")


@dataclass(frozen=True)
class AppSetSpec:
    generators: tuple[Mapping[str, Any], ...]
    template: Mapping[str, Any]
    go_template: bool = False
    missing_key_error: bool = False
    policy: SyncPolicy = SyncPolicy.SYNC
    preserve_resources: bool = False
    preserved_annotations: tuple[str, ...] = ()
    preserved_labels: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()

    @property
    def engine(self) -> Engine:
        """A fresh templating engine (its render budget counts one reconcile)."""
        return Engine(self.go_template, self.missing_key_error)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecProblem(f"{where}: must be a list of strings")
    return tuple(value)


def read_spec(raw: Any) -> AppSetSpec:
    """The checked spec of an ApplicationSet (`raw` is its `spec`)."""
    if not isinstance(raw, Mapping):
        raise SpecProblem("spec: required; an ApplicationSet needs generators and a template")
    generators = raw.get("generators")
    if not isinstance(generators, list) or not generators:
        raise SpecProblem("spec.generators: name at least one generator (list, clusters, git, "
                          "matrix or merge)")
    for index, generator in enumerate(generators):
        if not isinstance(generator, Mapping):
            raise SpecProblem(f"spec.generators[{index}]: must be an object such as "
                              "{list: {elements: [...]}}")
    template = raw.get("template")
    if not isinstance(template, Mapping) or not isinstance(template.get("metadata"), Mapping) \
            or not isinstance(template.get("spec"), Mapping):
        raise SpecProblem("spec.template: needs metadata (at least a name) and spec (an "
                          "Application spec)")
    go_template = raw.get("goTemplate", False)
    if not isinstance(go_template, bool):
        raise SpecProblem("spec.goTemplate: must be true or false")
    options = _strings(raw.get("goTemplateOptions"), "spec.goTemplateOptions")
    for option in options:
        if option not in _GO_OPTIONS:
            raise SpecProblem(f"spec.goTemplateOptions: {option!r} is not a text/template "
                              f"option; use one of {', '.join(_GO_OPTIONS)}")
    policy_raw = raw.get("syncPolicy") or {}
    if not isinstance(policy_raw, Mapping):
        raise SpecProblem("spec.syncPolicy: must be an object")
    sync = policy_raw.get("applicationsSync") or SyncPolicy.SYNC.value
    try:
        policy = SyncPolicy(sync)
    except ValueError:
        raise SpecProblem(f"spec.syncPolicy.applicationsSync: {sync!r} is not one of "
                          f"{', '.join(p.value for p in SyncPolicy)}") from None
    preserve = policy_raw.get("preserveResourcesOnDeletion", False)
    if not isinstance(preserve, bool):
        raise SpecProblem("spec.syncPolicy.preserveResourcesOnDeletion: must be true or false")
    preserved = raw.get("preservedFields") or {}
    if not isinstance(preserved, Mapping):
        raise SpecProblem("spec.preservedFields: must be an object with annotations and labels")
    unsupported = tuple(f"spec.{name}" for name in _UNSUPPORTED if raw.get(name))
    return AppSetSpec(
        generators=tuple(generators), template=template, go_template=go_template,
        missing_key_error=bool(options) and options[-1] == "missingkey=error",
        policy=policy, preserve_resources=preserve,
        preserved_annotations=_strings(preserved.get("annotations"),
                                       "spec.preservedFields.annotations"),
        preserved_labels=_strings(preserved.get("labels"), "spec.preservedFields.labels"),
        unsupported=unsupported,
    )
