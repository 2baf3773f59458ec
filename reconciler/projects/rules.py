"""What an AppProject permits: repositories, destinations, kinds, Application namespaces.

Each rule is a pure function of the parsed `AppProject` and returns None when the project
permits the thing, else one line naming the project, the thing and the rule that forbids
it, fit for an Application condition. The semantics are Argo CD's:

- `check_source_repo`: both sides normalized as Argo does (trimmed, lower-cased, scp-like
  `git@host:path` read as `host/path`, no `.git` suffix); an entry matches as a glob in
  which `*` stays inside one path segment; `*` alone matches every URL; `!glob` denies.
  The repository is permitted when some entry matches and no `!` entry denies it (an
  unmatched `!` entry counts as a match, so `['!https://bad/*']` alone permits the rest,
  as in Argo). The Application's URL loses its http(s) credentials before matching, so
  `https://user:pw@host/x` is judged by its host and path.
- `check_destination`: an entry matches when its `server` or `name` glob matches the
  cluster and its `namespace` glob matches the namespace; a `!` on any field turns the
  entry into a denial of what it does not match. The local cluster is both
  `https://kubernetes.default.svc` and `in-cluster`, so either spelling matches it.
- `check_resource`: cluster-scoped kinds need a match in `clusterResourceWhitelist` (empty
  or unset: none allowed); namespaced kinds are all allowed when
  `namespaceResourceWhitelist` is unset, none when it is an explicit empty list; a
  blacklist match always wins. Group, kind and (cluster lists) name are Go
  `filepath.Match` globs; the core group is ''.
- `check_object_namespace`: a rendered namespaced object's own namespace against
  `destinations` (cluster-scoped objects have none and pass).
- `check_source_namespace`: Applications in the control namespace may always use a
  project; elsewhere the namespace must match a `sourceNamespaces` glob or `/regexp/`.

Neighbours: `rollouts.api.globs` (the glob engine), `reconciler.project_gate` (asks these
rules for every Application and rendered object), `windows`, `orphans`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from reconciler.source_secrets import redact_url
from rollouts.api.appproject import AppProject, ClusterResourceRestriction, GroupKind
from rollouts.api.defaults import IN_CLUSTER_NAME, IN_CLUSTER_SERVER
from rollouts.api.globs import Dialect, glob_match
from rollouts.api.rules_appproject import regex_entry, regex_problem

__all__ = [
    "IN_CLUSTER_NAME",
    "IN_CLUSTER_SERVER",
    "check_destination",
    "check_object_namespace",
    "check_resource",
    "check_source_namespace",
    "check_source_repo",
    "cluster_aliases",
    "namespace_matches",
    "normalize_git_url",
]

_SHOWN_ENTRIES = 5  # a refusal lists this many entries of the rule, then "..."
_SCP_LIKE = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


def normalize_git_url(url: str) -> str:
    """Argo CD's comparison form of a Git URL (or of a `sourceRepos` glob)."""
    text = url.strip().lower()
    if _SCP_LIKE.match(text) and not text.startswith("ssh://"):
        text = "ssh://" + text.replace(":", "/", 1)
    return text.removesuffix(".git").removeprefix("ssh://")


def _negatable(pattern: str, value: str, separators: str = "") -> bool:
    """Argo's globMatch with negation: `!glob` matches what the glob does not."""
    if pattern.startswith("!"):
        return not glob_match(pattern[1:], value, Dialect.GOBWAS, separators)
    return pattern == "*" or glob_match(pattern, value, Dialect.GOBWAS, separators)


def _listing(field: str, entries: Sequence[str]) -> str:
    if not entries:
        return f"{field} is empty"
    shown = ", ".join(entries[:_SHOWN_ENTRIES])
    more = ", ..." if len(entries) > _SHOWN_ENTRIES else ""
    return f"{field}: {shown}{more}"


def check_source_repo(project: AppProject, repo_url: str) -> str | None:
    """None when Applications of `project` may render from `repo_url`, else why not."""
    shown = redact_url(repo_url)
    source = normalize_git_url(redact_url(repo_url))
    entries = project.spec.source_repos or []
    any_matched = False
    for index, entry in enumerate(entries):
        if entry.startswith("!"):
            pattern = "!" + normalize_git_url(entry[1:])
        else:
            pattern = normalize_git_url(entry)
        if _negatable(pattern, source, "/"):
            any_matched = True
        elif pattern.startswith("!"):
            return (f"project '{project.name}' denies repository '{shown}' "
                    f"(sourceRepos[{index}]: {entry})")
    if any_matched:
        return None
    return (f"project '{project.name}' does not permit repository '{shown}' "
            f"({_listing('sourceRepos', entries)})")


def cluster_aliases(server: str | None, name: str | None) -> tuple[str, str]:
    """(server, name) of a destination, with the local cluster's other spelling filled in."""
    server = (server or "").rstrip("/")
    name = name or ""
    if not server and not name:
        server = IN_CLUSTER_SERVER  # an Application's destination defaults to this cluster
    if server == IN_CLUSTER_SERVER and not name:
        name = IN_CLUSTER_NAME
    elif name == IN_CLUSTER_NAME and not server:
        server = IN_CLUSTER_SERVER
    return server, name


def check_destination(project: AppProject, *, server: str | None, name: str | None,
                      namespace: str) -> str | None:
    """None when `project` permits deploying to `namespace` of that cluster, else why not."""
    server, name = cluster_aliases(server, name)
    matched = False
    denied_by: int | None = None
    destinations = project.spec.destinations or []
    for index, item in enumerate(destinations):
        item_server, item_name, item_namespace = item.server or "", item.name or "", \
            item.namespace or ""
        name_matched = bool(name) and _negatable(item_name, name)
        server_matched = bool(server) and _negatable(item_server, server)
        namespace_matched = _negatable(item_namespace, namespace)
        if (server_matched or name_matched) and namespace_matched:
            matched = True
        elif ((not name_matched and item_name.startswith("!"))
              or (not server_matched and item_server.startswith("!"))
              or (not namespace_matched and item_namespace.startswith("!"))):
            denied_by = index if denied_by is None else denied_by
    where = f"namespace '{namespace}' of cluster '{server}'" if namespace else \
        f"cluster '{server}' (no namespace)"
    if denied_by is not None:
        return (f"project '{project.name}' denies {where} "
                f"(destinations[{denied_by}]: {_destination_text(destinations[denied_by])})")
    if matched:
        return None
    shown = [_destination_text(item) for item in destinations]
    return f"project '{project.name}' does not permit {where} ({_listing('destinations', shown)})"


def _destination_text(item: object) -> str:
    parts = [f"{key}={getattr(item, key)}" for key in ("server", "name", "namespace")
             if getattr(item, key, None) is not None]
    return "{" + " ".join(parts) + "}"


def check_object_namespace(project: AppProject, *, server: str | None, name: str | None,
                           namespace: str) -> str | None:
    """The destination rule for a rendered object's own namespace; "" (cluster-scoped) passes."""
    if not namespace:
        return None
    return check_destination(project, server=server, name=name, namespace=namespace)


def _filepath(pattern: str, value: str) -> bool:
    return glob_match(pattern, value, Dialect.FILEPATH, "/")


def _in_list(items: Sequence[GroupKind | ClusterResourceRestriction], group: str, kind: str,
             name: str) -> int | None:
    for index, item in enumerate(items):
        item_name = getattr(item, "name", None) or ""
        if (_filepath(item.kind, kind) and _filepath(item.group, group)
                and (not item_name or _filepath(item_name, name))):
            return index
    return None


def check_resource(project: AppProject, *, group: str, kind: str, namespaced: bool,
                   name: str = "") -> str | None:
    """None when `project` permits creating objects of group/kind (and name), else why not."""
    spec = project.spec
    shown = f"{group}/{kind}" if group else kind
    white: Sequence[GroupKind | ClusterResourceRestriction] | None
    black: Sequence[GroupKind | ClusterResourceRestriction] | None
    if namespaced:
        scope, white, black = ("namespaced", spec.namespace_resource_whitelist,
                               spec.namespace_resource_blacklist)
        white_field, black_field = "namespaceResourceWhitelist", "namespaceResourceBlacklist"
    else:
        scope, white, black = ("cluster-scoped", spec.cluster_resource_whitelist,
                               spec.cluster_resource_blacklist)
        white_field, black_field = "clusterResourceWhitelist", "clusterResourceBlacklist"
        shown = f"{shown} '{name}'" if name else shown
    refusal = f"project '{project.name}' does not permit {scope} {shown}"
    blacklisted = _in_list(black or [], group, kind, name)
    if blacklisted is not None:
        return f"{refusal} ({black_field}[{blacklisted}]: {_kind_text((black or [])[blacklisted])})"
    if namespaced and white is None:
        return None
    if not white:
        return f"{refusal} ({white_field} is empty: no {scope} kind is allowed)"
    if _in_list(white, group, kind, name) is not None:
        return None
    return f"{refusal} ({_listing(white_field, [_kind_text(item) for item in white])})"


def _kind_text(item: GroupKind | ClusterResourceRestriction) -> str:
    text = f"{item.group}/{item.kind}" if item.group else item.kind
    name = getattr(item, "name", None)
    return f"{text} name={name}" if name else text


@functools.lru_cache(maxsize=256)
def _regex(expression: str) -> re.Pattern[str] | None:
    # A refused expression (bad, or able to backtrack exponentially) matches nothing.
    return None if regex_problem(expression) is not None else re.compile(expression)


def namespace_matches(patterns: Sequence[str], namespace: str) -> bool:
    """Argo's namespace list match: globs, and `/regexp/` entries searched (unanchored).

    Expressions `rollouts.api.rules_appproject.regex_problem` refuses match nothing.
    """
    for pattern in patterns:
        expression = regex_entry(pattern)
        if expression is not None:
            compiled = _regex(expression)
            if compiled is not None and compiled.search(namespace):
                return True
        elif glob_match(pattern, namespace):
            return True
    return False


def check_source_namespace(project: AppProject, *, app_namespace: str,
                           control_namespace: str) -> str | None:
    """None when an Application in `app_namespace` may use `project`, else why not."""
    if not app_namespace or app_namespace == control_namespace:
        return None
    entries = project.spec.source_namespaces or []
    if namespace_matches(entries, app_namespace):
        return None
    if not entries:
        return (f"project '{project.name}' does not permit Applications in namespace "
                f"'{app_namespace}' (sourceNamespaces is empty: only Applications in "
                f"'{control_namespace}' may use it)")
    return (f"project '{project.name}' does not permit Applications in namespace "
            f"'{app_namespace}' ({_listing('sourceNamespaces', entries)})")
