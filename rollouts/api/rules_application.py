"""Rules of a valid Application that a schema cannot say."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rollouts.api.application import (
    KNOWN_SYNC_OPTIONS,
    UNSUPPORTED_SYNC_OPTIONS,
    Application,
    ApplicationSource,
    ApplicationSpec,
    SyncPolicy,
)
from rollouts.api.errors import Problem, Severity, child_path

__all__ = ["application_problems", "split_ref_value_file"]

_REF_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_REF_VALUE_FILE = re.compile(r"^\$([^/]+)/(.*)$")


def split_ref_value_file(value_file: str) -> tuple[str, str] | None:
    """A multi-source Helm value file `$<ref>/<path>` as (ref, path in that ref's
    repository); None for an ordinary value file (no `$`); ValueError with a one-line
    reason for a `$` one without `<ref>/`. Used by these rules and by the renderer."""
    if not value_file.startswith("$"):
        return None
    found = _REF_VALUE_FILE.match(value_file)
    if found is None:
        raise ValueError("write $<ref>/<path in that repository>")
    return found.group(1), found.group(2)


def application_problems(application: Application) -> list[Problem]:
    return list(_spec_problems(application.spec, "spec"))


def _spec_problems(spec: ApplicationSpec, path: str) -> Iterator[Problem]:
    source_path = child_path(path, "source")
    if spec.source is not None and spec.sources:
        yield Problem(path, "set source or sources, not both (sources for several sources)")
    elif spec.sources:
        yield from _sources_problems(spec.sources, child_path(path, "sources"))
    elif spec.source is None:
        yield Problem(
            source_path, "required: {repoURL, path, targetRevision} of the Git source "
            "(or sources: a list of them)"
        )
    else:
        yield from _source_problems(spec.source, source_path)
    destination_path = child_path(path, "destination")
    destination = spec.destination
    if not destination.server and not destination.name:
        yield Problem(
            child_path(destination_path, "server"),
            "required: the cluster's API server URL (https://kubernetes.default.svc is this "
            "cluster), or set destination.name",
        )
    elif destination.server and destination.name:
        yield Problem(
            destination_path,
            "set server or name, not both (Argo CD refuses both as well)",
        )
    if spec.sync_policy is not None:
        yield from _sync_policy_problems(spec.sync_policy, child_path(path, "syncPolicy"))
    if spec.revision_history_limit is not None and spec.revision_history_limit < 0:
        yield Problem(child_path(path, "revisionHistoryLimit"), "must be 0 or more")
    for index, rule in enumerate(spec.ignore_differences or []):
        rule_path = child_path(child_path(path, "ignoreDifferences"), index)
        if not rule.kind:
            yield Problem(child_path(rule_path, "kind"), "required: the kind of objects to match")
        if not (rule.json_pointers or rule.jq_path_expressions or rule.managed_fields_managers):
            yield Problem(
                rule_path,
                "ignores nothing: add jsonPointers, jqPathExpressions or managedFieldsManagers",
                Severity.WARNING,
            )
        for pointer_index, pointer in enumerate(rule.json_pointers or []):
            if pointer and not pointer.startswith("/"):
                yield Problem(
                    child_path(child_path(rule_path, "jsonPointers"), pointer_index),
                    f"{pointer!r} is not a JSON pointer: it must start with '/' "
                    "(e.g. /spec/replicas)",
                )


def _source_problems(source: ApplicationSource, source_path: str, *,
                     ref_only_allowed: bool = False) -> Iterator[Problem]:
    if not source.repo_url:
        what = "Helm repository or OCI registry" if source.chart else "Git repository"
        yield Problem(child_path(source_path, "repoURL"), f"required: the {what} URL")
    else:
        yield from _repo_url_problems(source.repo_url, child_path(source_path, "repoURL"))
    if not source.path and not source.chart:
        if not (ref_only_allowed and source.ref):
            yield Problem(
                child_path(source_path, "path"),
                "required: the directory in the repository to render ('.' for its root)",
            )
    elif source.path and (source.path.startswith("/") or ".." in source.path.split("/")):
        yield Problem(
            child_path(source_path, "path"),
            f"{source.path!r} must be relative to the repository root and stay inside it",
        )
    kinds = source.source_types
    if len(kinds) > 1:
        yield Problem(
            source_path,
            "set at most one of directory, kustomize or helm "
            f"(found {', '.join(kinds).lower()})",
        )


def _sources_problems(sources: list[ApplicationSource], path: str) -> Iterator[Problem]:
    """Argo CD's multi-source rules: each source valid (a `ref` source needs no path),
    ref names unique and without `chart`, `$<ref>/...` value files naming a ref."""
    refs: dict[str, int] = {}
    for index, source in enumerate(sources):
        source_path = child_path(path, index)
        yield from _source_problems(source, source_path, ref_only_allowed=True)
        if source.ref is None:
            continue
        ref_path = child_path(source_path, "ref")
        if not _REF_NAME.match(source.ref):
            yield Problem(ref_path, f"{source.ref!r}: use letters, digits, '-' and '_'")
        elif source.ref in refs:
            yield Problem(ref_path, f"{source.ref!r} is also the ref of {path}[{refs[source.ref]}]"
                          ": give each ref a unique name")
        else:
            refs[source.ref] = index
        if source.chart:
            yield Problem(source_path, "a source with ref cannot have chart (value files come "
                          "from Git): remove one of them")
    for index, source in enumerate(sources):
        files_path = child_path(child_path(child_path(path, index), "helm"), "valueFiles")
        for file_index, value_file in enumerate(
                (source.helm.value_files or []) if source.helm else []):
            try:
                found = split_ref_value_file(value_file)
            except ValueError as error:
                yield Problem(child_path(files_path, file_index), f"{value_file!r}: {error}")
                continue
            if found is not None and found[0] not in refs:
                yield Problem(child_path(files_path, file_index),
                              f"{value_file!r} names ${found[0]}, but no source has "
                              f"ref: {found[0]}")


def _repo_url_problems(url: str, path: str) -> Iterator[Problem]:
    # The controller's Git source checks the rest (scheme allowlist, local paths) at fetch
    # time; these two are never a valid URL and would reach git as an option or garbage.
    if url.startswith("-"):
        yield Problem(path, f"{url[:80]!r} starts with '-', which git would read as an "
                            "option: use an https://, ssh:// or git@host:path URL")
    elif any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        yield Problem(path, f"{url[:80]!r} holds whitespace or control characters: "
                            "remove them")


def _sync_policy_problems(policy: SyncPolicy, path: str) -> Iterator[Problem]:
    for index, option in enumerate(policy.sync_options or []):
        option_path = child_path(child_path(path, "syncOptions"), index)
        name, equals, value = option.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            yield Problem(
                option_path, f"{option!r} is not of the form Name=value (e.g. CreateNamespace=true)"
            )
        elif name in UNSUPPORTED_SYNC_OPTIONS:
            yield Problem(
                option_path,
                f"not supported yet, so it has no effect: {UNSUPPORTED_SYNC_OPTIONS[name]}",
                Severity.WARNING,
            )
        elif name not in KNOWN_SYNC_OPTIONS:
            yield Problem(
                option_path,
                f"unknown sync option {name!r}: use one of {', '.join(KNOWN_SYNC_OPTIONS)}",
            )
        else:
            allowed = KNOWN_SYNC_OPTIONS[name].split("|")
            if value.lower() not in allowed:
                yield Problem(option_path, f"{name} takes {' or '.join(allowed)}, not {value!r}")
    retry = policy.retry
    if retry is not None and retry.backoff is not None:
        backoff, backoff_path = retry.backoff, child_path(child_path(path, "retry"), "backoff")
        for field, duration in (
            ("duration", backoff.duration),
            ("maxDuration", backoff.max_duration),
        ):
            if duration is not None and duration.nanoseconds <= 0:
                yield Problem(child_path(backoff_path, field), f"must be positive, not {duration}")
        if backoff.factor is not None and backoff.factor < 1:
            yield Problem(child_path(backoff_path, "factor"), "must be 1 or more")
