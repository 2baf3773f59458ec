"""Rules of a valid AppProject that a schema cannot say: globs, cron schedules, windows.

Errors are what would make Argo CD refuse the project or a rule silently match nothing
(a malformed glob, a schedule robfig/cron cannot parse, a window kind other than
allow/deny, a window that names no application, namespace or cluster); warnings are
legal settings that are probably mistakes (duplicates, a destination with no cluster).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator, Sequence

from rollouts.api.appproject import AppProject, AppProjectSpec, SyncWindow
from rollouts.api.cron import CronError, parse_cron
from rollouts.api.errors import Problem, Severity, SpecError, child_path
from rollouts.api.globs import Dialect, GlobError, compile_glob

__all__ = ["MAX_DESCRIPTION_LENGTH", "appproject_problems", "regex_entry", "regex_problem"]

MAX_DESCRIPTION_LENGTH = 255
"""Argo CD's limit on `spec.description`."""

WINDOW_KINDS = ("allow", "deny")


def appproject_problems(project: AppProject) -> list[Problem]:
    return list(_spec_problems(project.spec, "spec"))


def regex_entry(pattern: str) -> str | None:
    """The regular expression of a `/.../` entry of `sourceNamespaces`, else None."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return pattern[1:-1]
    return None


def regex_problem(expression: str) -> str | None:
    """Why a `/regexp/` entry is refused, or None.

    Argo CD evaluates these with Go's RE2 (linear time); Python's engine backtracks, so an
    expression that repeats a group which itself repeats or alternates (`(a+)+`, `(a|aa)*`)
    could take exponential time on a 63-character namespace name and stall the controller.
    Such expressions, back-references and look-arounds (which RE2 lacks too) are refused.
    """
    try:
        re.compile(expression)
    except re.error as error:
        return f"bad regular expression {expression!r}: {error}"
    if re.search(r"\\[1-9]|\(\?(=|!|<=|<!|P=)", expression):
        return (f"regular expression {expression!r} uses a back-reference or look-around, "
                "which Argo CD's RE2 does not support")
    risky: list[bool] = []  # per open group: does its body repeat or alternate?
    index = 0
    while index < len(expression):
        char = expression[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(expression, index)
            continue
        if char == "(":
            risky.append(False)
        elif char == ")" and risky:
            inner = risky.pop()
            quantified = expression[index + 1:index + 2] in ("*", "+", "{")
            if inner and quantified:
                return (f"regular expression {expression!r} repeats a group that itself "
                        "repeats or alternates, which can take exponential time; rewrite it "
                        "without nested repetition")
            if risky:
                risky[-1] = risky[-1] or inner or quantified
        elif char in "*+{|" and risky:
            risky[-1] = True
        index += 1
    return None


def _class_end(expression: str, start: int) -> int:
    index = start + 1
    if expression[index:index + 1] == "^":
        index += 1
    if expression[index:index + 1] == "]":
        index += 1
    while index < len(expression) and expression[index] != "]":
        index += 2 if expression[index] == "\\" else 1
    return index + 1


def _spec_problems(spec: AppProjectSpec, path: str) -> Iterator[Problem]:
    if spec.description is not None and len(spec.description) > MAX_DESCRIPTION_LENGTH:
        yield Problem(child_path(path, "description"),
                      f"{len(spec.description)} characters: Argo CD allows at most "
                      f"{MAX_DESCRIPTION_LENGTH}")
    repos_path = child_path(path, "sourceRepos")
    yield from _duplicates(spec.source_repos or [], repos_path, "repository")
    for index, repo in enumerate(spec.source_repos or []):
        yield from _glob(repo.removeprefix("!"), child_path(repos_path, index), "/")
    yield from _destination_problems(spec, child_path(path, "destinations"))
    for field, items in (("clusterResourceWhitelist", spec.cluster_resource_whitelist),
                         ("clusterResourceBlacklist", spec.cluster_resource_blacklist),
                         ("namespaceResourceWhitelist", spec.namespace_resource_whitelist),
                         ("namespaceResourceBlacklist", spec.namespace_resource_blacklist)):
        for index, item in enumerate(items or []):
            item_path = child_path(child_path(path, field), index)
            for key in ("group", "kind", "name"):
                value = getattr(item, key, None)
                if value:
                    yield from _glob(value, child_path(item_path, key), "/", Dialect.FILEPATH)
    if spec.orphaned_resources is not None:
        ignore_path = child_path(child_path(path, "orphanedResources"), "ignore")
        for index, ignored in enumerate(spec.orphaned_resources.ignore or []):
            for field in ("group", "kind", "name"):
                value = getattr(ignored, field)
                if value:
                    yield from _glob(value, child_path(child_path(ignore_path, index), field))
    namespaces_path = child_path(path, "sourceNamespaces")
    for index, entry in enumerate(spec.source_namespaces or []):
        yield from _namespace_entry(entry, child_path(namespaces_path, index))
    windows_path = child_path(path, "syncWindows")
    for index, window in enumerate(spec.sync_windows or []):
        yield from _window_problems(window, child_path(windows_path, index))


def _destination_problems(spec: AppProjectSpec, path: str) -> Iterator[Problem]:
    seen: set[tuple[str, str, str]] = set()
    for index, destination in enumerate(spec.destinations or []):
        item_path = child_path(path, index)
        key = (destination.server or "", destination.name or "", destination.namespace or "")
        if key in seen:
            yield Problem(item_path, "the same destination is listed twice", Severity.WARNING)
        seen.add(key)
        if not destination.server and not destination.name:
            yield Problem(item_path, "names no cluster, so it permits nothing: set server "
                          "(https://kubernetes.default.svc or '*') or name (in-cluster)",
                          Severity.WARNING)
        if destination.namespace is None:
            yield Problem(child_path(item_path, "namespace"), "not set, so only cluster-scoped "
                          "objects match: write '*' for every namespace", Severity.WARNING)
        for field in ("server", "name", "namespace"):
            value = getattr(destination, field)
            if value:
                yield from _glob(value.removeprefix("!"), child_path(item_path, field))


def _window_problems(window: SyncWindow, path: str) -> Iterator[Problem]:
    if window.kind not in WINDOW_KINDS:
        shown = "missing" if window.kind is None else f"{window.kind!r}"
        yield Problem(child_path(path, "kind"), f"{shown}: must be allow or deny")
    if window.schedule is None:
        yield Problem(child_path(path, "schedule"),
                      "required: a five-field cron schedule, e.g. '0 22 * * *'")
    else:
        try:
            if not parse_cron(window.schedule).can_fire:
                yield Problem(child_path(path, "schedule"),
                              f"{window.schedule!r} names a date that never exists, so the "
                              "window never opens")
        except CronError as error:
            yield Problem(child_path(path, "schedule"), str(error))
    try:
        window.length()
    except SpecError as error:
        yield Problem(child_path(path, "duration"), str(error))
    if window.time_zone:
        try:
            zoneinfo.ZoneInfo(window.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            yield Problem(child_path(path, "timeZone"),
                          f"unknown time zone {window.time_zone!r}: use an IANA name such as "
                          "UTC or Europe/Paris")
    if not (window.applications or window.namespaces or window.clusters):
        yield Problem(path, "applies to nothing: give applications, namespaces or clusters "
                      "(['*'] for all)")
    for field in ("applications", "namespaces", "clusters"):
        for index, pattern in enumerate(getattr(window, field) or []):
            yield from _glob(pattern, child_path(child_path(path, field), index))


def _namespace_entry(entry: str, path: str) -> Iterator[Problem]:
    expression = regex_entry(entry)
    if expression is None:
        yield from _glob(entry, path)
        return
    problem = regex_problem(expression)
    if problem is not None:
        yield Problem(path, problem)


def _glob(pattern: str, path: str, separators: str = "",
          dialect: Dialect = Dialect.GOBWAS) -> Iterator[Problem]:
    try:
        compile_glob(pattern, dialect, separators)
    except GlobError as error:
        yield Problem(path, f"{error}; as written it matches nothing")


def _duplicates(values: Sequence[str], path: str, what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            yield Problem(child_path(path, index), f"{what} {value!r} is listed twice",
                          Severity.WARNING)
        seen.add(value)
