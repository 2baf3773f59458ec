"""`rollouts app diff`'s side of the sources: fetch and render an Application here, as the
controller would (`reconciler.app_source`), without a controller.

`desired_objects(session, app, revision)` returns the rendered objects and a line saying
where they came from. A single source is fetched with `GitSource` (or, with `chart:`,
`ChartSource`) and rendered; a multi-source app (`spec.sources`) fetches its `ref`
sources first, then renders every other source in order with their checkouts for
Helm's `$ref/...` value files, and combines the objects (`reconciler.multisource`).
`revision` (`--revision`) overrides the target revision; for a multi-source app it is
one revision per source, comma-separated, in `spec.sources` order.

Same rules as the controller: no local paths or file:// (refused in `GitSource`),
credentials from repository Secrets by normalized URL. Problems are `UsageProblem`s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.multisource import source_label, sources_of
from reconciler.render import RenderError, render
from reconciler.repo_creds import REPO_SECRET_SELECTOR, credentials_for, helm_credentials_for
from reconciler.source_secrets import redact_url
from rollouts.api import Application
from rollouts.api.application import ApplicationSource
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import Session
from rollouts.kube import SECRET, Forbidden

__all__ = ["REVISIONS_HELP", "desired_objects", "revision_option"]

Obj = dict[str, Any]


def _repo_secrets(session: Session) -> tuple[list[Obj], str]:
    """The repository Secrets of the Application's namespace (where the controller looks
    when run without -n), and a note when they could not be read."""
    try:
        with session.calling("list", "repository secrets"):
            secrets = session.client.list(SECRET, session.namespace, REPO_SECRET_SELECTOR).items
    except UsageProblem as problem:
        if isinstance(problem.__cause__, Forbidden):
            return [], f"; repository Secrets were not readable ({problem})"
        raise
    return list(secrets), ""


def _wanted(source: ApplicationSource) -> str:
    # A chart's targetRevision has no default (a version or a constraint, as Argo CD).
    return source.target_revision or "" if source.chart else source.target_revision_or_default


def _fetch(source: ApplicationSource, revision: str, secrets: list[Obj]) -> tuple[Path, str]:
    """The local directory of `source` at `revision` and the commit or version it is."""
    # Imported here: only diff fetches.
    from reconciler.charts import ChartSource
    from reconciler.source import GitSource

    if source.chart:
        credentials = helm_credentials_for(source.repo_url, secrets)
        charts = ChartSource()
        version = charts.resolve(source.repo_url, source.chart, revision, credentials,
                                 max_age=0.0)
        return charts.fetch(source.repo_url, source.chart, version, credentials), version
    checkout = GitSource().fetch(source.repo_url, revision,
                                 credentials_for(source.repo_url, secrets))
    return checkout.path, checkout.revision


REVISIONS_HELP = ("a multi-source app: one per source, comma-separated, in spec.sources "
                  "order; a chart constraint holding a comma cannot be given here")


def revision_option(revision: str, name: str, count: int) -> list[str]:
    """`--revision` of a multi-source app: `count` revisions separated by commas (the
    user's form; a chart constraint with a comma, `>=1.0, <2.0`, cannot be one of them)."""
    wanted = [part.strip() for part in revision.split(",")]
    if len(wanted) != count:
        raise UsageProblem(f"application '{name}' has {count} sources: give --revision as "
                           f"{count} revisions separated by commas, in spec.sources order")
    return wanted


def desired_objects(session: Session, app: Application, revision: str | None
                    ) -> tuple[list[Obj], str]:
    """The objects `app` renders at `revision` (else its target revisions), and where
    they came from (`<repo> at <target> (<sha>)`, one per source)."""
    from reconciler.source import SourceError

    name = str(app.metadata.name)
    sources = sources_of(app)
    if not sources:
        raise UsageProblem(f"application '{name}' has neither spec.source nor spec.sources")
    if revision is None:
        wanted = [_wanted(source) for source in sources]
    elif len(sources) == 1:
        wanted = [revision]
    else:
        wanted = revision_option(revision, name, len(sources))
    multiple = app.spec.has_multiple_sources
    secrets, note = _repo_secrets(session)
    fetched: list[tuple[Path, str]] = []
    for index, (source, one) in enumerate(zip(sources, wanted, strict=True)):
        what = f"{source_label(index, sources)} of " if multiple else "the source of "
        try:
            fetched.append(_fetch(source, one, secrets))
        except SourceError as error:
            raise UsageProblem(f"cannot fetch {what}application '{name}': {error}{note}"
                               ) from None
    refs = {str(source.ref): path for source, (path, _) in zip(sources, fetched, strict=True)
            if source.ref and multiple}
    objects: list[Obj] = []
    for index, (source, (path, sha)) in enumerate(zip(sources, fetched, strict=True)):
        if multiple and source.is_ref_only:
            continue
        try:
            objects += render(path, source, app_name=name,
                              namespace=app.spec.destination.namespace or "", refs=refs)
        except RenderError as error:
            what = f" ({source_label(index, sources)})" if multiple else ""
            raise UsageProblem(f"cannot render application '{name}'{what} at "
                               f"{_short(sha)}: {error}") from None
    where = "; ".join(f"{redact_url(source.repo_url)} at {one} ({_short(sha)})"
                      for source, one, (_, sha) in zip(sources, wanted, fetched, strict=True))
    return objects, where


def _short(revision: str) -> str:
    is_sha = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision.lower())
    return revision[:7] if is_sha else revision
