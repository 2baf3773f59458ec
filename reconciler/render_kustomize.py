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
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from reconciler import tools
from reconciler.render_base import Object, RenderError, check_objects, load_yaml, run_tool
from rollouts.api.application import ApplicationSourceKustomize

__all__ = ["KUSTOMIZATION_FILES", "find_kustomization", "parse_image", "render_kustomize"]

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
    app_dir: Path, root: Path, options: ApplicationSourceKustomize | None
) -> list[Object]:
    """Objects built by `kubectl kustomize` from `app_dir` (`root` is the checkout)."""
    kustomization = find_kustomization(app_dir)
    label = app_dir.relative_to(root).as_posix() or "."
    if kustomization is None:
        raise RenderError(
            f"{label}: no kustomization.yaml, kustomization.yml or Kustomization in the app "
            "path; add one or remove spec.source.kustomize"
        )
    kubectl = _tool()
    if options is None or not _has_edits(options):
        return _build(kubectl, app_dir, label)
    with tempfile.TemporaryDirectory(prefix="rollouts-kustomize-") as scratch:
        copy = Path(scratch) / "repo"
        shutil.copytree(root, copy, symlinks=True, copy_function=_link_or_copy)
        copied_file = copy / kustomization.relative_to(root)
        _edit(copied_file, options, label)
        return _build(kubectl, copied_file.parent, label)


def _tool() -> Path:
    try:
        return tools.kubectl()
    except tools.ToolNotFound as error:
        raise RenderError(f"cannot run kustomize: {error}") from error


def _build(kubectl: Path, directory: Path, label: str) -> list[Object]:
    output = run_tool([str(kubectl), "kustomize", str(directory)],
                      what=f"kustomize build of {label}", cwd=directory)
    return check_objects(load_yaml(output, f"kustomize output of {label}"),
                         f"kustomize output of {label}")


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


def _edit(path: Path, options: ApplicationSourceKustomize, label: str) -> None:
    try:
        loaded: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RenderError(f"{label}/{path.name}: YAML syntax error: {error}") from error
    if not isinstance(loaded, dict):
        raise RenderError(f"{label}/{path.name}: is not a kustomization (not a mapping)")
    document: dict[str, Any] = loaded
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
