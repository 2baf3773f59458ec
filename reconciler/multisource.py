"""Multi-source Applications (Argo CD's `spec.sources`): the pure rules, no I/O.

An Application names either `spec.source` or `spec.sources` (a list of the same
`ApplicationSource`); `sources_of(app)` is the one resolved list every neighbour uses, so
a single-source app is simply a list of one. Each source is polled and rendered on its
own (`reconciler.app_source`), and their objects are combined in list order; an object
rendered by two sources is kept once, the later source's version winning, with a
`RepeatedResourceWarning` condition (`reconciler.compare.prepare_desired`), as Argo CD.

A source with `ref: values` and no `path` renders nothing: it is the checkout another
source's Helm `valueFiles` reach as `$values/<path in that repository>` (the usual chart
from a Helm repository with values from Git). `$values` is only understood at the start
of a value file, the rest is relative to the root of that source's checkout and must
stay inside it (`rollouts.api.rules_application.split_ref_value_file` reads it,
`reconciler.render_helm.value_file` finds the file). A `ref` source with `path` is also
rendered. The spec's rules (not both `source` and `sources`, unique refs, no `ref` with
`chart`, every `$ref` named) are `rollouts.api.rules_application`'s, so `rollouts lint`
says them too.

Revisions: inside the reconciler one "revision" string stands for the whole set, the
per-source revisions joined by `SEPARATOR` (`join_revisions` / `split_revisions`), a
newline: no Git ref, sha, chart version or chart constraint contains one (a constraint
does contain `,`: `>=1.0, <2.0`). Messages show the set with `shown_revision`. At the
edges, in status and operation records, a multi-source app writes Argo CD's lists
instead of the single fields:

    status.sync: {revisions: [<chart version>, <sha>], comparedTo: {sources: [...]}}
    status.operationState.syncResult: {revisions: [...], sources: [...]}
    status.history[]: {id: 3, revisions: [...], sources: [...], deployedAt: ...}
    operation.sync: {revisions: [...]}          # a rollback or a sync to other revisions

`revision_fields` writes a revision into a record, `recorded_revision` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollouts.api.application import Application, ApplicationSource

__all__ = [
    "SEPARATOR",
    "join_revisions",
    "recorded_revision",
    "revision_fields",
    "shown_revision",
    "source_label",
    "sources_of",
    "split_revisions",
]

Obj = dict[str, Any]

SEPARATOR = "\n"
"""Between the per-source revisions of one multi-source "revision" (never in a ref, a
sha, a chart version or constraint; a requested revision containing it is refused)."""


def sources_of(app: Application) -> list[ApplicationSource]:
    """The app's sources in order: `spec.sources`, else `[spec.source]` (else none)."""
    if app.spec.sources:
        return list(app.spec.sources)
    return [app.spec.source] if app.spec.source is not None else []


def source_label(index: int, sources: Sequence[ApplicationSource]) -> str:
    """How messages name source `index`: `source <name>` or `source 2 of 3` (Argo CD's)."""
    name = sources[index].name
    return f"source {name}" if name else f"source {index + 1} of {len(sources)}"


def join_revisions(revisions: Sequence[str]) -> str:
    """One revision string for the per-source `revisions` (see the module docstring)."""
    for revision in revisions:
        if SEPARATOR in revision:
            raise ValueError(f"revision {revision!r} contains {SEPARATOR!r}")
    return SEPARATOR.join(revisions)


def split_revisions(revision: str, count: int) -> list[str]:
    """The per-source revisions of `revision` (ValueError when there are not `count`)."""
    parts = revision.split(SEPARATOR)
    if len(parts) != count:
        raise ValueError(f"{len(parts)} revisions for {count} sources")
    return parts


def shown_revision(revision: str) -> str:
    """`revision` for a one-line message: the per-source revisions separated by `; `."""
    return revision.replace(SEPARATOR, "; ")


def revision_fields(revision: str, *, multiple: bool) -> Obj:
    """`{revision: ...}`, or Argo CD's `{revisions: [...]}` for a multi-source app."""
    if not revision:
        return {}
    if multiple:
        return {"revisions": revision.split(SEPARATOR)}
    return {"revision": revision}


def recorded_revision(record: Mapping[str, Any] | None) -> str:
    """The revision `revision_fields` wrote into `record` (`revisions` joined, else
    `revision`); "" when it has neither."""
    record = record or {}
    revisions = record.get("revisions")
    if isinstance(revisions, list) and revisions:
        return SEPARATOR.join(str(r or "") for r in revisions)
    return str(record.get("revision") or "")
