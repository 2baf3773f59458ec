"""Kustomize apps: `kubectl kustomize DIR` with Argo CD's `spec.source.kustomize` options.

Argo CD applies the options by running `kustomize edit` on the app's kustomization
file, so they *replace* what the file says (`namePrefix` overrides the file's prefix, it
is not added to it), while `images`, `commonLabels` and `commonAnnotations` are merged
in by name/key with ours winning. We do the same edits in Python, on a scratch copy of
the checkout (hard links, so it is cheap; the edited file is replaced, never written
through a link), because checkouts are shared and read-only. Without options the checkout
is rendered in place.

`images` entries use Argo CD's strings: `nginx:1.25`, `nginx@sha256:...`,
`nginx=registry.example.com/nginx:1.25` (rename and retag).

Kustomize would read anything the controller can read, so before it runs, every
kustomization reachable from the app directory is scanned (`scan_kustomizations`): each
path it names (resources, bases, components, patches, generator files and envs, crds,
configurations, replacements, openapi, transformers/generators/validators) must stay
inside the repository checkout (after symlinks; `../base` elsewhere in the same repository
is fine, a sibling checkout in the cache is not). Remote references (URLs, `git@host:`,
`github.com/...`, `?ref=`) are refused unless `RenderPolicy.allow_remote_bases`, and
`file://` always; `helmCharts` and non-builtin plugins are refused. Kustomize then runs
with `--load-restrictor LoadRestrictionsRootOnly` and `tools.environment()` (git limited
to https and ssh when remote bases are allowed, to nothing otherwise).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from reconciler import tools
from reconciler.render_base import Object, RenderBudget, RenderError, check_objects, load_yaml
from rollouts.api.application import ApplicationSourceKustomize

__all__ = [
    "KUSTOMIZATION_FILES",
    "find_kustomization",
    "parse_image",
    "render_kustomize",
    "scan_kustomizations",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def find_kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def parse_image(spec: str) -> dict[str, str]:
    """An Argo CD image override string as a kustomization `images` entry.

    >>> parse_image("nginx=registry.local/nginx:1.25")
    {'name': 'nginx', 'newName': 'registry.local/nginx', 'newTag': '1.25'}
    >>> parse_image("ghcr.io/acme/app@sha256:abc")
    {'name': 'ghcr.io/acme/app', 'digest': 'sha256:abc'}
    """
    name, sep, target = spec.strip().partition("=")
    if not sep:
        name, target = "", name
    reference, at, digest = target.partition("@")
    tag = ""
    if not at:
        colon = reference.rfind(":")
        if colon > reference.rfind("/"):
            reference, tag = reference[:colon], reference[colon + 1 :]
    if not (name or reference):
        raise RenderError(f"spec.source.kustomize.images: {spec!r} names no image")
    entry = {"name": name or reference}
    if name and reference and reference != "*":
        entry["newName"] = reference
    if tag:
        entry["newTag"] = tag
    if at:
        entry["digest"] = digest
    return entry


def render_kustomize(
    app_dir: Path,
    root: Path,
    options: ApplicationSourceKustomize | None,
    *,
    budget: RenderBudget | None = None,
) -> list[Object]:
    """Objects built by `kubectl kustomize` from `app_dir` (`root` is the checkout)."""
    budget = budget or RenderBudget()
    kustomization = find_kustomization(app_dir)
    label = app_dir.relative_to(root).as_posix() or "."
    if kustomization is None:
        raise RenderError(
            f"{label}: no kustomization.yaml, kustomization.yml or Kustomization in the app "
            "path; add one or remove spec.source.kustomize"
        )
    scan_kustomizations(app_dir, root, budget)
    kubectl = _tool()
    with tempfile.TemporaryDirectory(prefix="rollouts-kustomize-") as scratch:
        env = tools.environment(Path(scratch) / "env",
                                allow_remote_git=budget.policy.allow_remote_bases)
        if options is None or not _has_edits(options):
            return _build(kubectl, app_dir, label, env, budget)
        copy = Path(scratch) / "repo"
        shutil.copytree(root, copy, symlinks=True, copy_function=_link_or_copy)
        copied_file = copy / kustomization.relative_to(root)
        _edit(copied_file, options, label, budget)
        return _build(kubectl, copied_file.parent, label, env, budget)


def _tool() -> Path:
    try:
        return tools.kubectl()
    except tools.ToolNotFound as error:
        raise RenderError(f"cannot run kustomize: {error}") from error


def _build(
    kubectl: Path, directory: Path, label: str, env: dict[str, str], budget: RenderBudget
) -> list[Object]:
    argv = [str(kubectl), "kustomize", "--load-restrictor", "LoadRestrictionsRootOnly",
            str(directory)]
    output = tools.run_tool(argv, what=f"kustomize build of {label}", cwd=directory, env=env,
                            budget=budget)
    source = f"kustomize output of {label}"
    return check_objects(load_yaml(output, source, budget), source, budget)


# -- what a kustomization may refer to ------------------------------------------------------

# Fields whose entries are paths (files or kustomization directories).
_PATH_LISTS = ("resources", "bases", "components", "crds", "configurations",
               "patchesStrategicMerge")
# Fields whose entries are mappings with an optional `path` (else an inline patch).
_PATH_KEYS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
_PLUGINS = ("transformers", "generators", "validators")
_HELM = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")

# `scheme://`, scp-like `user@host:`, go-getter `git::`, `gh:`, or a `?ref=`-style query.
_REMOTE_SYNTAX = re.compile(
    r"^([a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:|git::|gh:)|\?(ref|version|timeout|submodules)=",
    re.IGNORECASE,
)
# `github.com/org/repo` without a scheme: a first segment that looks like a host name.
_HOST_LIKE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?/", re.IGNORECASE)
_FILE_URL = re.compile(r"(^|::)file:", re.IGNORECASE)


def scan_kustomizations(app_dir: Path, root: Path, budget: RenderBudget) -> None:
    """Refuse a kustomization tree that reaches outside `root` or (by policy) the network.

    Every kustomization reachable from `app_dir` through local paths is read; the error
    names the kustomization file, the field and the entry.
    """
    root = root.resolve()
    seen: set[Path] = set()
    pending = [app_dir.resolve()]
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        for kustomization in _kustomization_files(directory):
            label = kustomization.relative_to(root).as_posix()
            budget.check_time(label)
            if not kustomization.resolve().is_relative_to(root):
                raise RenderError(f"{label} is a symlink to a file outside the repository; "
                                  "refused")
            document = _read_kustomization(kustomization, label, budget)
            for field, entry in _references(document, label):
                target = _check_entry(directory, root, label, field, entry,
                                      budget.policy.allow_remote_bases)
                if target is not None and target.is_dir():
                    pending.append(target)
                elif target is not None and field in _PLUGINS:
                    _refuse_plugin_file(target, label, field, entry, budget)


def _kustomization_files(directory: Path) -> list[Path]:
    return [directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()]


def _read_kustomization(path: Path, label: str, budget: RenderBudget) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RenderError(f"cannot read {label}: {error.strerror}") from error
    budget.check_file_size(len(data), label)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RenderError(f"{label} is not UTF-8 text: {error.reason}") from error
    documents = load_yaml(text, label, budget)
    if not documents:
        return {}
    document = documents[0][1]
    if not isinstance(document, dict):
        raise RenderError(f"{label}: is not a kustomization (not a mapping)")
    return document


def _references(document: dict[str, Any], label: str) -> Iterator[tuple[str, str]]:
    """`(field, entry)` for every path-like entry; refuses what kustomize may not do here."""
    for field in _HELM:
        if document.get(field):
            raise RenderError(
                f"{label}: {field} is not supported (kustomize's Helm support is off); use a "
                "Helm source (spec.source.helm) or commit the rendered chart"
            )
    for field in _PATH_LISTS:
        for entry in _list(document, field, label):
            if isinstance(entry, str) and "\n" not in entry:  # else an inline patch
                yield field, entry
    for field in _PATH_KEYS:
        for entry in _list(document, field, label):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                yield field, entry["path"]
    for field in _GENERATORS:
        for generator in _list(document, field, label):
            if not isinstance(generator, dict):
                continue
            for item in generator.get("files") or []:
                if isinstance(item, str):
                    yield f"{field}.files", item.partition("=")[2] or item
            envs = [*(generator.get("envs") or []), generator.get("env")]
            yield from ((f"{field}.envs", env) for env in envs if isinstance(env, str) and env)
    openapi = document.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi.path", openapi["path"]
    for field in _PLUGINS:
        for entry in _list(document, field, label):
            if not isinstance(entry, str):
                continue
            if "\n" in entry:
                _refuse_plugin_documents(load_yaml(entry, f"{label} {field}"), label, field,
                                         "an inline configuration")
            else:
                yield field, entry


def _list(document: dict[str, Any], field: str, label: str) -> list[Any]:
    value = document.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderError(f"{label}: {field} must be a list")
    return value


def _check_entry(
    directory: Path, root: Path, label: str, field: str, entry: str, allow_remote: bool
) -> Path | None:
    """The local path `entry` names (inside `root`), or None for an allowed remote base."""
    where = f"{label}: {field} entry {entry!r}"
    if _FILE_URL.search(entry):
        raise RenderError(f"{where} is a file:// base; kustomize may only use files in the "
                          "Application's repository")
    if _REMOTE_SYNTAX.search(entry):
        _check_remote(where, allow_remote)
        return None
    lexical = Path(os.path.normpath(directory / entry))
    physical = (directory / entry).resolve()
    if not lexical.is_relative_to(root) or not physical.is_relative_to(root):
        raise RenderError(f"{where} leads outside the repository; kustomize may only use files "
                          "in the Application's repository")
    looks_like_url = not re.search(r"\s", entry) and not entry.startswith(("{", "["))
    if not physical.exists() and looks_like_url and (_HOST_LIKE.match(entry) or "//" in entry):
        _check_remote(where, allow_remote)  # kustomize would try it as a remote base
        return None
    return physical if physical.exists() else None


def _check_remote(where: str, allow_remote: bool) -> None:
    if not allow_remote:
        raise RenderError(f"{where} is a remote base, and remote bases are off in this "
                          "controller; copy the base into the repository")
    return None


def _refuse_plugin_file(
    path: Path, label: str, field: str, entry: str, budget: RenderBudget
) -> None:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RenderError(f"cannot read {path.name} ({label} {field}): {error.strerror}") from error
    budget.check_file_size(len(data), f"{label} {field} entry {entry!r}")
    text = data.decode("utf-8", errors="replace")
    _refuse_plugin_documents(load_yaml(text, f"{label} {field} entry {entry!r}", budget), label,
                             field, repr(entry))


def _refuse_plugin_documents(
    documents: list[tuple[int, Any]], label: str, field: str, what: str
) -> None:
    """Only kustomize's builtin plugins (`apiVersion: builtin`) may be configured."""
    for _, document in documents:
        version = document.get("apiVersion") if isinstance(document, dict) else None
        if version != "builtin":
            kind = document.get("kind") if isinstance(document, dict) else None
            raise RenderError(
                f"{label}: {field} {what} configures a kustomize plugin (apiVersion {version}, "
                f"kind {kind}); plugins are off, only builtin transformers are allowed"
            )


def _has_edits(options: ApplicationSourceKustomize) -> bool:
    return any(value is not None for value in (
        options.name_prefix, options.name_suffix, options.images, options.common_labels,
        options.common_annotations, options.namespace,
    ))


def _link_or_copy(source: str, destination: str) -> object:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination


def _edit(
    path: Path, options: ApplicationSourceKustomize, label: str, budget: RenderBudget
) -> None:
    document = _read_kustomization(path, f"{label}/{path.name}", budget)
    if options.name_prefix is not None:
        document["namePrefix"] = options.name_prefix
    if options.name_suffix is not None:
        document["nameSuffix"] = options.name_suffix
    if options.namespace is not None:
        document["namespace"] = options.namespace
    for key, extra in (("commonLabels", options.common_labels),
                       ("commonAnnotations", options.common_annotations)):
        if extra:
            merged = dict(document.get(key) or {})
            merged.update({str(k): str(v) for k, v in extra.items()})
            document[key] = merged
    if options.images:
        document["images"] = _merge_images(document.get("images") or [], options.images)
    path.unlink()  # a hard link into the checkout: replace the file, never write through it
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _merge_images(existing: list[Any], overrides: list[str]) -> list[Any]:
    images = [dict(image) if isinstance(image, dict) else image for image in existing]
    for spec in overrides:
        override = parse_image(spec)
        current = next((image for image in images
                        if isinstance(image, dict) and image.get("name") == override["name"]),
                       None)
        if current is None:
            images.append(override)
            continue
        if "newTag" in override:
            current.pop("digest", None)
        if "digest" in override:
            current.pop("newTag", None)
        current.update(override)
    return images
