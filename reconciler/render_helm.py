"""Helm charts kept in Git: `helm template` with Argo CD's `spec.source.helm` options.

The command is Argo CD's: `helm template <chart dir> --name-template <releaseName or app
name> --namespace <destination namespace> --include-crds`, then `--values` for each of
`valueFiles` (paths relative to the chart directory, which may point elsewhere in the
repository but never outside it; URLs are not fetched), then the inline values
(`valuesObject` if set, else `values`) as one more values file, then `parameters` as
`--set name=value` (`--set-string` with `forceString: true`), commas escaped as Argo CD
does unless the value is a `{a,b}` list. In a multi-source app a value file may be
`$<ref>/path`: a file in another source's checkout (`reconciler.multisource`), which
must stay inside that checkout (`value_file` checks both kinds the same way).
Precedence is therefore Argo CD's: parameters > valuesObject > values > valueFiles >
the chart's values.yaml.

Helm runs with `tools.environment()`: homes in a scratch directory, so nothing from the
host's helm configuration (repositories, plugins) changes the output, and none of the
controller's environment variables. Its output counts against the render's budget: each
template's output against the per-file limit, all of it against the total, and the
render's deadline kills it. Charts with
dependencies must have them committed under `charts/` (no `helm dependency build`).

Each object's error message names the template it came from (`# Source:` lines).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler import tools
from reconciler.render_base import Object, RenderBudget, RenderError, check_objects, load_yaml
from rollouts.api.application import ApplicationSourceHelm, HelmParameter
from rollouts.api.rules_application import split_ref_value_file

__all__ = ["escape_set_value", "render_helm", "value_file"]

_DOCUMENT_START = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE_COMMENT = re.compile(r"^# Source: (.+)$", re.MULTILINE)
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def escape_set_value(value: str) -> str:
    """Escape commas for `--set` (Argo CD's rule): `a,b` -> `a\\,b`; `{a,b}` stays a list."""
    if value.startswith("{") and value.endswith("}"):
        return value
    return _UNESCAPED_COMMA.sub(r"\\,", value)


def render_helm(
    chart_dir: Path,
    root: Path,
    options: ApplicationSourceHelm | None,
    *,
    release_name: str,
    namespace: str,
    budget: RenderBudget | None = None,
    label: str | None = None,
    refs: Mapping[str, Path] | None = None,
) -> list[Object]:
    """Objects from `helm template` of the chart in `chart_dir` (`root` is the checkout,
    or the chart itself for a chart from a repository; `label` names it in messages;
    `refs`: the checkouts of a multi-source app's `ref` sources, by name)."""
    budget = budget or RenderBudget()
    label = label or chart_dir.relative_to(root).as_posix() or "."
    try:
        helm = tools.helm()
    except tools.ToolNotFound as error:
        raise RenderError(f"cannot render the Helm chart {label}: {error}") from error
    with tempfile.TemporaryDirectory(prefix="rollouts-helm-") as scratch:
        argv = [str(helm), "template", str(chart_dir), "--name-template", release_name,
                "--include-crds"]
        if namespace:
            argv += ["--namespace", namespace]
        argv += _values_arguments(chart_dir, root, options, Path(scratch), refs)
        argv += _parameter_arguments(options.parameters if options else None)
        env = tools.environment(Path(scratch))
        output = tools.run_tool(argv, what=f"helm template of {label}", cwd=chart_dir, env=env,
                                budget=budget)
    return _parse_output(output, label, budget)


def _values_arguments(
    chart_dir: Path, root: Path, options: ApplicationSourceHelm | None, scratch: Path,
    refs: Mapping[str, Path] | None,
) -> list[str]:
    if options is None:
        return []
    argv: list[str] = []
    for name in options.value_files or []:
        argv += ["--values", str(value_file(chart_dir, root, name, refs))]
    inline = _inline_values(options)
    if inline is not None:
        values_file = scratch / "inline-values.yaml"
        values_file.write_text(inline)
        argv += ["--values", str(values_file)]
    return argv


def value_file(chart_dir: Path, root: Path, name: str, refs: Mapping[str, Path] | None
               ) -> Path:
    """The file a `valueFiles` entry names: relative to the chart directory (`/...`: to
    the repository root), or `$<ref>/<path>` in that ref's checkout (`refs`); a
    `RenderError` when it leaves its repository (`..`, a symlink out) or is no file."""
    where = f"spec.source.helm.valueFiles: {name!r}"
    try:
        in_ref = split_ref_value_file(name)
    except ValueError as error:
        raise RenderError(f"{where}: {error}") from error
    if in_ref is not None:
        ref, relative = in_ref
        ref_root = (refs or {}).get(ref)
        if ref_root is None:
            raise RenderError(f"{where}: no source has ref: {ref} (refs are only used with "
                              "spec.sources)")
        return _inside(ref_root, ref_root / relative.lstrip("/"), where,
                       f"the repository of ref {ref}")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", name):
        raise RenderError(f"{where}: values files from URLs are not supported; commit the file")
    candidate = root / name.lstrip("/") if name.startswith("/") else chart_dir / name
    return _inside(root, candidate, where, "the repository")


def _inside(root: Path, candidate: Path, where: str, repository: str) -> Path:
    """`candidate` resolved (symlinks followed), if it is a file inside `root`."""
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise RenderError(f"{where} points outside {repository}; refused")
    if not resolved.is_file():
        raise RenderError(f"{where} does not exist in {repository}")
    return resolved


def _inline_values(options: ApplicationSourceHelm) -> str | None:
    values_object: Any = options.values_object
    if values_object is not None:
        if not isinstance(values_object, dict):
            raise RenderError("spec.source.helm.valuesObject must be a mapping of values")
        return json.dumps(values_object)  # JSON is YAML, and keeps every type exact
    if options.values and options.values.strip():
        return options.values
    return None


def _parameter_arguments(parameters: list[HelmParameter] | None) -> list[str]:
    argv: list[str] = []
    for index, parameter in enumerate(parameters or []):
        if not parameter.name.strip():
            raise RenderError(f"spec.source.helm.parameters[{index}] has an empty name")
        as_string = parameter.force_string is True
        flag = "--set-string" if as_string else "--set"
        argv += [flag, f"{parameter.name}={escape_set_value(parameter.value or '')}"]
    return argv


def _parse_output(output: str, label: str, budget: RenderBudget) -> list[Object]:
    objects: list[Object] = []
    default_source = f"helm template output of {label}"
    for chunk in _DOCUMENT_START.split(output):
        if not chunk.strip():
            continue
        found = _SOURCE_COMMENT.search(chunk)
        source = f"{found.group(1).strip()} (helm template of {label})" if found else default_source
        budget.check_time(source)
        budget.check_file_size(len(chunk.encode()), source)
        objects.extend(check_objects(load_yaml(chunk, source, budget), source, budget))
    return objects
