"""Plain-manifest directories, with Argo CD's `directory.recurse/include/exclude`.

Files whose names end in `.yaml`, `.yml` or `.json` are read in lexical walk order
(subdirectories only with `recurse: true`; directories whose name starts with `.`, such as
`.git` or `.github`, are never entered). `include` and `exclude` are globs in Argo CD's
syntax (gobwas/glob without separators) matched against the path relative to the app
directory: `*` and `**` match any run of characters including `/`, `?` one character,
`[abc]`, `[!a-z]`, and `{a.yaml,b/*}` alternatives. A file must match `include` (when
set) and not `exclude`. A file containing `# +argocd:skip-file-rendering` is skipped, as
in Argo CD. A `.jsonnet` file that would be read is an error: Jsonnet is not implemented,
and ignoring it would prune what it used to produce.

Symlinked files are read only when they resolve inside the checkout.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reconciler.render_base import Object, RenderError, check_objects, load_json, load_yaml

__all__ = ["compile_glob", "render_directory"]

_MANIFEST = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")
_SKIP_MARKER = "+argocd:skip-file-rendering"


def compile_glob(pattern: str, field: str = "pattern") -> re.Pattern[str]:
    """Translate an Argo CD (gobwas) glob into an anchored regular expression."""
    regex, position = _translate(pattern, 0, in_braces=False, field=field)
    if position != len(pattern):
        raise RenderError(f"{field} {pattern!r} is not a valid glob: unmatched '}}'")
    return re.compile(f"^{regex}$", re.DOTALL)


def _translate(pattern: str, start: int, *, in_braces: bool, field: str) -> tuple[str, int]:
    out: list[str] = []
    i = start
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            while i < len(pattern) and pattern[i] == "*":
                i += 1
            out.append(".*")
            continue
        if char == "?":
            out.append(".")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise RenderError(f"{field} {pattern!r} is not a valid glob: unclosed '['")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        elif char == "{":
            alternatives: list[str] = []
            i += 1
            while True:
                alternative, i = _translate(pattern, i, in_braces=True, field=field)
                alternatives.append(alternative)
                if i >= len(pattern):
                    raise RenderError(f"{field} {pattern!r} is not a valid glob: unclosed '{{'")
                if pattern[i] == "}":
                    break
                i += 1  # the comma
            out.append(f"(?:{'|'.join(alternatives)})")
        elif char == "}" or (in_braces and char == ","):
            return "".join(out), i
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out), i


def render_directory(
    app_dir: Path,
    root: Path,
    *,
    recurse: bool = False,
    include: str | None = None,
    exclude: str | None = None,
) -> list[Object]:
    """Every object in the manifest files under `app_dir` (`root` is the checkout)."""
    include_re = compile_glob(include, "directory.include") if include else None
    exclude_re = compile_glob(exclude, "directory.exclude") if exclude else None
    objects: list[Object] = []
    for path in _walk(app_dir, recurse):
        relative = path.relative_to(app_dir).as_posix()
        if exclude_re is not None and exclude_re.match(relative):
            continue
        if include_re is not None and not include_re.match(relative):
            continue
        label = path.relative_to(root).as_posix()
        if path.name.endswith(".jsonnet"):
            raise RenderError(
                f"{label}: Jsonnet is not implemented; render it to YAML in Git, or leave it "
                "out with spec.source.directory.exclude"
            )
        text = _read(path, root, label)
        if _SKIP_MARKER in text:
            continue
        documents = load_json(text, label) if path.suffix == ".json" else load_yaml(text, label)
        objects.extend(check_objects(documents, label))
    return objects


def _walk(directory: Path, recurse: bool) -> list[Path]:
    files: list[Path] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as error:
        raise RenderError(f"cannot read directory {directory.name}: {error.strerror}") from error
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if recurse and not entry.name.startswith("."):
                files.extend(_walk(Path(entry.path), recurse))
        elif _MANIFEST.match(entry.name) and entry.is_file():
            files.append(Path(entry.path))
    return files


def _read(path: Path, root: Path, label: str) -> str:
    if path.is_symlink() and not path.resolve().is_relative_to(root):
        raise RenderError(f"{label} is a symlink to a file outside the repository; refused")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise RenderError(f"{label} is not UTF-8 text: {error.reason}") from error
    except OSError as error:
        raise RenderError(f"cannot read {label}: {error.strerror}") from error
