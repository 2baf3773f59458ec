"""What the CLI shows of Applications and what it asks of them: pure functions of dicts.

- `render_list` (`app list`), `render_app` (`app get`: header, then the resources
  table), `render_history` (`app history`), `render_operation` (what a sync did, per
  resource), `status_line` (one line for `app wait`), `diff_block` / `render_pruned` /
  `diff_summary` (`app diff`), in the shapes Argo CD's CLI prints;
- requests: `sync_operation` (Argo CD's `operation` for a sync), `operation_patch` (the
  merge patch, with the resourceVersion as a precondition), `rollback_entry` (which
  history entry a rollback goes to, refused under automated sync);
- reading status: `OperationMark` / `ours` tell the operationState of *our* request from
  an older one; `in_progress` says why a new operation must wait; `wait_reached` decides
  `app wait`; `search_scope` says where `app diff` looks for objects to prune.

Neighbours: `app_cmds` fetches the objects and prints these strings; repository URLs are
shown through `redact_url` (`reconciler.source`'s), so no credential reaches the terminal.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from reconciler.diff import ObjectDiff, apply_body
from reconciler.secret_mask import mask_object
from reconciler.source_secrets import redact_url  # = reconciler.source.redact_url, no git
from reconciler.tracking import ResourceKey
from rollouts.api.defaults import IN_CLUSTER_SERVER
from rollouts.api.phases import OperationPhase
from rollouts.cli.errors import UsageProblem
from rollouts.cli.rollout_view import age

__all__ = [
    "CLI_USER",
    "OperationMark",
    "diff_block",
    "diff_header",
    "diff_summary",
    "in_progress",
    "operation_patch",
    "operation_phase",
    "ours",
    "render_app",
    "render_history",
    "render_list",
    "render_operation",
    "render_pruned",
    "rollback_entry",
    "search_scope",
    "short_revision",
    "status_line",
    "sync_operation",
    "sync_policy_text",
    "wait_reached",
]

CLI_USER = "rollouts-cli"
Obj = dict[str, Any]

_LABEL_WIDTH = 20
_MAX_MESSAGE = 100


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _cut(text: Any, limit: int = _MAX_MESSAGE) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


def _lines(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{label + ':':<{_LABEL_WIDTH}}{value}".rstrip() for label, value in pairs]


def short_revision(revision: Any) -> str:
    """A commit sha cut to 7 characters (as git and Argo CD show it); other text as it is."""
    text = str(revision or "")
    is_sha = len(text) == 40 and all(c in "0123456789abcdef" for c in text.lower())
    return text[:7] if is_sha else text


def sync_policy_text(app: dict[str, Any]) -> str:
    """`Manual`, or `Automated` with its switches: `Automated (Prune, SelfHeal)`."""
    automated = _get(app, "spec", "syncPolicy", "automated")
    if not isinstance(automated, dict):
        return "Manual"
    switches = [label for key, label in (("prune", "Prune"), ("selfHeal", "SelfHeal"),
                                         ("allowEmpty", "AllowEmpty")) if automated.get(key)]
    return f"Automated ({', '.join(switches)})" if switches else "Automated"


def _sync_status(app: dict[str, Any]) -> str:
    return str(_get(app, "status", "sync", "status") or "Unknown")


def _health_status(app: dict[str, Any]) -> str:
    return str(_get(app, "status", "health", "status") or "Unknown")


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    """`spec.sources` of a multi-source app (else empty)."""
    sources = _get(app, "spec", "sources")
    return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []


def _source(app: dict[str, Any]) -> dict[str, Any]:
    """`spec.source`; for a multi-source app its first source (what a list row shows)."""
    source = _get(app, "spec", "source")
    if _sources(app):
        return _sources(app)[0]
    return source if isinstance(source, dict) else {}


def _revisions_text(record: Any) -> str:
    """A record's `revision`, or its per-source `revisions` (shortened, comma-separated)."""
    revisions = record.get("revisions") if isinstance(record, dict) else None
    if isinstance(revisions, list) and revisions:
        return ", ".join(short_revision(r) for r in revisions)
    return short_revision(record.get("revision") if isinstance(record, dict) else None)


def _target(app: dict[str, Any]) -> str:
    return str(_source(app).get("targetRevision") or "HEAD")


def _sync_text(app: dict[str, Any]) -> str:
    """Argo CD's wording: `Synced to main (5f3c2a1)`, `OutOfSync from main (5f3c2a1)`."""
    status, revision = _sync_status(app), _revisions_text(_get(app, "status", "sync"))
    if not revision:
        return status
    target = ", ".join(str(s.get("targetRevision") or "HEAD") for s in _sources(app)) \
        if _sources(app) else _target(app)
    return f"{status} {'to' if status == 'Synced' else 'from'} {target} ({revision})"


# --- requests --------------------------------------------------------

def sync_operation(*, revision: str | None, prune: bool, dry_run: bool,
                   sync_options: list[str] | None, source: Obj | None = None,
                   revisions: list[str] | None = None, sources: list[Obj] | None = None
                   ) -> Obj:
    """Argo CD's `operation` for a sync; `revision` None syncs the target revision. A
    multi-source app is synced to `revisions` (one per source; a rollback also names
    the `sources` it recorded)."""
    sync: Obj = {"prune": prune, "dryRun": dry_run}
    if revisions:
        sync["revisions"] = list(revisions)
    elif revision:
        sync["revision"] = revision
    if sync_options:
        sync["syncOptions"] = list(sync_options)
    if sources:
        sync["sources"] = sources
    elif source:
        sync["source"] = source
    return {"sync": sync, "initiatedBy": {"username": CLI_USER}}


def operation_patch(operation: Obj, resource_version: str) -> Obj:
    """A merge patch setting `operation`, refused (409) if the object changed since read."""
    return {"metadata": {"resourceVersion": resource_version}, "operation": operation}


def rollback_entry(app: Obj, history_id: int | None) -> Obj:
    """The history entry to roll back to: `history_id`, else the one before the last.

    Refused, as Argo CD does, while automated sync is on (it would sync Git again at once).
    """
    name = str(app["metadata"]["name"])
    if isinstance(((app.get("spec") or {}).get("syncPolicy") or {}).get("automated"), dict):
        raise UsageProblem(
            f"application '{name}' has automated sync enabled, which would undo a rollback "
            "at once; disable it first (remove spec.syncPolicy.automated), then roll back")
    history = sorted((app.get("status") or {}).get("history") or [],
                     key=lambda entry: int(entry.get("id") or 0))
    if history_id is not None:
        for entry in history:
            if int(entry.get("id") or 0) == history_id:
                return dict(entry)
        known = ", ".join(str(e.get("id")) for e in history) or "none"
        raise UsageProblem(f"application '{name}' has no history entry {history_id} (ids: "
                           f"{known}); see `rollouts app history {name}`")
    if len(history) < 2:
        raise UsageProblem(f"application '{name}' has {len(history)} deployment(s) in its "
                           "history: there is no earlier one to roll back to")
    return dict(history[-2])


# --- reading the operation --------------------------------------------------------------

def operation_phase(app: dict[str, Any]) -> OperationPhase | None:
    """The phase of `status.operationState`, None when there is none (or it is unknown)."""
    try:
        return OperationPhase(str(_get(app, "status", "operationState", "phase")))
    except ValueError:
        return None


def in_progress(app: dict[str, Any]) -> str | None:
    """Why a new operation may not be requested now (one is pending or running), or None."""
    if app.get("operation"):
        who = _get(app, "operation", "initiatedBy", "username") or (
            "automation" if _get(app, "operation", "initiatedBy", "automated") else "someone")
        return f"a sync requested by {who} has not finished yet"
    phase = operation_phase(app)
    if phase is not None and not phase.completed:
        started = _get(app, "status", "operationState", "startedAt")
        return f"an operation is {phase}" + (f" (started {started})" if started else "")
    return None


@dataclass(frozen=True)
class OperationMark:
    """The operationState seen just before we asked for a new operation."""

    started_at: str | None
    finished_at: str | None

    @classmethod
    def of(cls, app: dict[str, Any]) -> OperationMark:
        state = _get(app, "status", "operationState") or {}
        return cls(state.get("startedAt"), state.get("finishedAt"))


def ours(app: dict[str, Any], *, requested_at: datetime,
         before: OperationMark) -> dict[str, Any] | None:
    """`status.operationState` if it is the one of the operation we requested, else None.

    It is ours when it is not the state seen before the request and either started at or
    after the request (timestamps have whole seconds, so the request time is floored), or
    the controller has already removed `operation` (it finished ours; a controller whose
    clock lags ours still gets recognized that way).
    """
    state = _get(app, "status", "operationState")
    if not isinstance(state, dict) or OperationMark.of(app) == before:
        return None
    started = _time(state.get("startedAt"))
    if started is not None and started >= requested_at.replace(microsecond=0):
        return state
    return state if not app.get("operation") else None


def wait_reached(app: dict[str, Any], *, sync: bool, health: bool, operation: bool) -> bool:
    """Whether `app wait` is done: Synced / Healthy / no operation pending, as asked."""
    if sync and _sync_status(app) != "Synced":
        return False
    if health and _health_status(app) != "Healthy":
        return False
    return not (operation and in_progress(app) is not None)


def status_line(app: dict[str, Any]) -> str:
    """`sync Synced to main (5f3c2a1), health Healthy, operation Succeeded`."""
    parts = [f"sync {_sync_text(app)}", f"health {_health_status(app)}"]
    message = _get(app, "status", "health", "message")
    if message:
        parts[-1] += f" ({_cut(message, 60)})"
    if app.get("operation"):
        parts.append("operation requested")
    elif operation_phase(app) is not None:
        parts.append(f"operation {operation_phase(app)}")
    return ", ".join(parts)


# --- list and get -----------------------------------------------------------------------

def render_list(apps: list[dict[str, Any]], *, all_namespaces: bool, wide: bool,
                now: datetime) -> str:
    """NAME SYNC STATUS HEALTH STATUS REVISION REPO PATH TARGET (NAMESPACE first with -A;
    DESTINATION, SYNC POLICY, OPERATION and AGE last with -o wide)."""
    head = ["NAME", "SYNC STATUS", "HEALTH STATUS", "REVISION", "REPO", "PATH", "TARGET"]
    if wide:
        head += ["DESTINATION", "SYNC POLICY", "OPERATION", "AGE"]
    if all_namespaces:
        head.insert(0, "NAMESPACE")
    rows: list[tuple[str, ...]] = [tuple(head)]
    for app in sorted(apps, key=lambda a: (str(_get(a, "metadata", "namespace")),
                                           str(_get(a, "metadata", "name")))):
        source = _source(app)
        cells = [str(_get(app, "metadata", "name")), _sync_status(app), _health_status(app),
                 _revisions_text(_get(app, "status", "sync")) or "-",
                 redact_url(str(source.get("repoURL") or "-")),
                 str(source.get("path") or "-"), _target(app)]
        if wide:
            phase = "Requested" if app.get("operation") else operation_phase(app)
            cells += [str(_get(app, "spec", "destination", "namespace") or "-"),
                      sync_policy_text(app), str(phase or "-"),
                      age(_get(app, "metadata", "creationTimestamp"), now)]
        if all_namespaces:
            cells.insert(0, str(_get(app, "metadata", "namespace") or ""))
        rows.append(tuple(cells))
    return "\n".join(_table(rows))


def _when(stamp: Any, now: datetime) -> str:
    return f"{stamp} ({age(stamp, now)} ago)" if _time(stamp) else "-"


def render_app(app: dict[str, Any], now: datetime) -> str:
    """The `app get` view: what is deployed from where, its state, then its resources."""
    metadata, status = app.get("metadata") or {}, app.get("status") or {}
    source = _source(app)
    destination = _get(app, "spec", "destination") or {}
    health = _health_status(app)
    if _get(status, "health", "message"):
        health += f" ({_cut(_get(status, 'health', 'message'))})"
    pairs = [
        ("Name", f"{metadata.get('namespace')}/{metadata.get('name')}"),
        ("Project", str(_get(app, "spec", "project") or "default")),
        ("Server", str(destination.get("server") or destination.get("name")
                       or IN_CLUSTER_SERVER)),
        ("Namespace", str(destination.get("namespace") or "-")),
        ("Repo", redact_url(str(source.get("repoURL") or "-"))),
        ("Target", _target(app)),
        ("Path", str(source.get("path") or "-")),
        ("Sync Policy", sync_policy_text(app)),
        ("Sync Status", _sync_text(app)),
        ("Health Status", health),
    ]
    if app.get("operation"):
        pairs.append(("Operation", "Sync requested, waiting for the controller"))
    state = status.get("operationState")
    if isinstance(state, dict):
        last = str(state.get("phase") or "-")
        if state.get("message"):
            last += f": {_cut(state['message'])}"
        pairs.append(("Last Operation", last))
        pairs.append(("Finished" if state.get("finishedAt") else "Started",
                      _when(state.get("finishedAt") or state.get("startedAt"), now)))
    lines = _lines(pairs)
    if _sources(app):  # a multi-source app: each source, in order (Repo/Path: the first)
        lines.append("Sources:")
        for index, entry in enumerate(_sources(app)):
            what = f"chart {entry['chart']}" if entry.get("chart") else \
                f"path {entry.get('path')}" if entry.get("path") else "values only"
            ref = f", ref {entry['ref']}" if entry.get("ref") else ""
            lines.append(f"- {index + 1}: {redact_url(str(entry.get('repoURL') or '-'))} "
                         f"{what} at {entry.get('targetRevision') or 'HEAD'}{ref}")
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines += [f"- {c.get('type')}: {_cut(c.get('message'))}" for c in conditions]
    resources = status.get("resources") or []
    lines.append("")
    if not resources:
        lines.append("No resources tracked yet.")
        return "\n".join(lines)
    rows: list[tuple[str, ...]] = [("GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH")]
    for res in resources:
        rows.append((str(res.get("group") or ""), str(res.get("kind") or ""),
                     str(res.get("namespace") or ""), str(res.get("name") or ""),
                     str(res.get("status") or ""), str(_get(res, "health", "status") or "")))
    return "\n".join([*lines, *_table(rows)])


def render_history(app: dict[str, Any]) -> str:
    """ID DATE REVISION, oldest first; the revision as `<target> (<short sha>)`."""
    rows: list[tuple[str, ...]] = [("ID", "DATE", "REVISION")]
    history = sorted(_get(app, "status", "history") or [], key=lambda h: int(h.get("id") or 0))
    for entry in history:
        revisions = entry.get("revisions")
        if isinstance(revisions, list) and revisions:  # a multi-source app: one per source
            targets = [_get(s, "targetRevision") if isinstance(s, dict) else None
                       for s in entry.get("sources") or []]
            targets += [None] * (len(revisions) - len(targets))
            shown = ", ".join(_shown(target, short_revision(revision))
                              for target, revision in zip(targets, revisions, strict=False))
        else:
            target = _get(entry, "source", "targetRevision")
            shown = _shown(target, short_revision(entry.get("revision")) or "-")
        rows.append((str(entry.get("id")), str(entry.get("deployedAt") or "-"), shown))
    return "\n".join(_table(rows))


def _full_revisions(record: dict[str, Any]) -> str:
    revisions = record.get("revisions")
    if isinstance(revisions, list) and revisions:
        return ", ".join(str(r) for r in revisions)
    return str(record.get("revision") or "")


def _shown(target: Any, revision: str) -> str:
    return f"{target} ({revision})" if target and target != revision else revision


def render_operation(app: dict[str, Any], state: dict[str, Any]) -> str:
    """What one operation did: its summary, then one row per resource it touched."""
    result = state.get("syncResult") or {}
    sync = _get(state, "operation", "sync") or {}
    started, finished = _time(state.get("startedAt")), _time(state.get("finishedAt"))
    pairs = [("Name", f"{_get(app, 'metadata', 'namespace')}/{_get(app, 'metadata', 'name')}"),
             ("Operation", "Sync (dry run)" if sync.get("dryRun") else "Sync"),
             ("Sync Revision", _full_revisions(result) or _full_revisions(sync) or "-"),
             ("Phase", str(state.get("phase") or "-")),
             ("Start", str(state.get("startedAt") or "-")),
             ("Finished", str(state.get("finishedAt") or "-"))]
    if started and finished:
        pairs.append(("Duration", f"{int((finished - started).total_seconds())}s"))
    pairs.append(("Message", _cut(state.get("message") or "-", 200)))
    lines = _lines(pairs)
    resources = result.get("resources") or []
    if not resources:
        return "\n".join(lines)
    health = {(str(r.get("group") or ""), r.get("kind"), str(r.get("namespace") or ""),
               r.get("name")): _get(r, "health", "status")
              for r in _get(app, "status", "resources") or []}
    rows: list[tuple[str, ...]] = [("GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH",
                                    "HOOK", "MESSAGE")]
    for res in resources:
        key = (str(res.get("group") or ""), res.get("kind"), str(res.get("namespace") or ""),
               res.get("name"))
        rows.append((key[0], str(key[1] or ""), key[2], str(key[3] or ""),
                     str(res.get("status") or ""), str(health.get(key) or ""),
                     str(res.get("hookType") or ""), _cut(res.get("message"))))
    return "\n".join([*lines, "", *_table(rows)])


# --- diff -------------------------------------------------------------------------------

def diff_header(key: ResourceKey) -> str:
    """Argo CD's header above each object's diff: `===== apps/Deployment ns/name ======`."""
    return f"===== {key.group}/{key.kind} {key.namespace}/{key.name} ======"


def render_pruned(live: dict[str, Any]) -> str:
    """A live object the sync would prune, as a diff that removes all of it."""
    shown = apply_body(live)
    annotations = _get(shown, "metadata", "annotations")
    if isinstance(annotations, dict):
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    shown = mask_object(shown)
    text = yaml.safe_dump(shown, sort_keys=True, default_flow_style=False).splitlines()
    return "\n".join(difflib.unified_diff(text, [], "live", "desired", lineterm=""))


def diff_block(result: ObjectDiff) -> str:
    """One object's part of `app diff`: the header, then its diff (or why it has none)."""
    body = f"error: {result.error}" if result.error else result.unified
    return f"{diff_header(result.key)}\n{body}"


def diff_summary(name: str, where: str, *, new: int, changed: int, pruned: int) -> str:
    """The line `app diff` ends with (on stderr): in sync, or how many objects differ."""
    if not (new or changed or pruned):
        return f"application '{name}' is in sync with {where}"
    return (f"application '{name}' differs from {where}: {new} new, {changed} changed, "
            f"{pruned} to prune")


def search_scope(app: Obj, desired: list[Obj],
                 namespace: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Where `app diff` looks for tracked objects that left Git: the (apiVersion, kind)
    pairs of Git and of status.resources, in the namespaces they name (plus the
    destination). Listing every kind the server serves would cost a LIST per kind."""
    kinds = {(str(obj.get("apiVersion")), str(obj.get("kind"))) for obj in desired}
    namespaces = {namespace, *(str(_get(obj, "metadata", "namespace") or "") for obj in desired)}
    for res in _get(app, "status", "resources") or []:
        if res.get("version") and res.get("kind"):
            group = res.get("group")
            kinds.add((f"{group}/{res['version']}" if group else str(res["version"]),
                       str(res["kind"])))
        namespaces.add(str(res.get("namespace") or ""))
    return sorted(kinds), sorted(n for n in namespaces if n)
