"""The generators: parameter sets from a list, the registered clusters, Git, and their
combinations (pure: clusters and Git come in through `Sources`).

`generate(spec, sources)` runs every entry of `spec.generators` and returns one
`Generated` per generator kind found in it: its parameter sets (after the entry's
`selector`) and the template to render them with (the entry's own `template` laid over
the ApplicationSet's). A problem raises `GeneratorProblem` naming the generator
(`spec.generators[1].matrix.generators[0].git.repoURL: required ...`); nothing is
generated then.

- `list`: `elements` (and `elementsYaml`, a YAML list); flat mode wants string values
  (a `values` map becomes `values.<k>`), Go template mode takes elements as they are.
- `clusters`: every registered cluster (`reconciler.clusters.read_clusters`) whose
  Secret's labels match `selector`: `name`, `nameNormalized`, `server`, `project`,
  `metadata.labels.<k>`, `metadata.annotations.<k>`, `values.<k>`. The local cluster
  (`in-cluster`, no Secret) is included only when there is no selector, as in Argo CD.
  A cluster Secret that cannot be read (or names a cluster another Secret names) fails
  the generator, naming the Secret: its cluster silently missing from the list would
  delete its Applications under the `sync` policy.
- `git`: `reconciler.appset.git`.
- `matrix`: exactly two child generators; every set of the first joined with every set
  of the second, whose spec may use the first's parameters (it is rendered with each of
  them). Flat sets may not disagree on a key.
- `merge`: two or more children; sets of the first are updated by the later children's
  sets with equal `mergeKeys` values; a later set matching none is dropped.
Children of matrix and merge may be matrix or merge once more (Argo's nesting limit);
their own templates are not used. Unimplemented kinds (`scmProvider`, `pullRequest`,
`clusterDecisionResource`, `plugin`) are errors, never silently ignored.

`requeue_seconds(spec)`: the smallest poll interval of the git generators in it (their
`requeueAfterSeconds`, else 180 s), None without any (list and clusters are event-driven).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.appset.git import DEFAULT_REQUEUE_SECONDS, GeneratorProblem, GitReader, git_params
from reconciler.appset.params import (
    Params,
    combine_flat,
    deep_merge,
    matches_selector,
    normalize,
    selector_problem,
)
from reconciler.appset.render import Engine, TemplateProblem, merge_template, render_tree
from reconciler.appset.spec import AppSetSpec
from reconciler.clusters import Cluster, ClusterProblem
from reconciler.render_base import RenderBudget, RenderError, RenderPolicy, load_yaml

__all__ = ["Generated", "GeneratorProblem", "Sources", "generate", "requeue_seconds"]

MAX_PARAMETER_SETS = 10_000
"""Most parameter sets one ApplicationSet may generate (a matrix multiplies quickly)."""
_YAML_POLICY = RenderPolicy(max_file_bytes=1024 * 1024, max_total_bytes=1024 * 1024,
                           max_alias_nodes=10_000, max_depth=50)
"""Bounds of `elementsYaml` (as for the git generator's files)."""
_TERMINAL = ("list", "clusters", "git")
_COMBINING = ("matrix", "merge")
_NOT_IMPLEMENTED = ("scmProvider", "pullRequest", "clusterDecisionResource", "plugin")


@dataclass(frozen=True)
class Sources:
    """What generators read besides the spec: the clusters, the cluster Secrets that
    could not be read, and Git."""

    clusters: Sequence[Cluster] = ()
    git: GitReader | None = None
    cluster_problems: Sequence[ClusterProblem] = ()


@dataclass(frozen=True)
class Generated:
    params: list[Params]
    template: Mapping[str, Any]
    kind: str
    where: str


@dataclass
class _Run:
    engine: Engine
    sources: Sources

    def counted(self, sets: list[Params], where: str) -> list[Params]:
        if len(sets) > MAX_PARAMETER_SETS:
            raise GeneratorProblem(f"{where}: generates more than {MAX_PARAMETER_SETS} "
                                   "parameter sets; narrow it")
        return sets


def _kinds(entry: Mapping[str, Any], where: str, *, top: bool) -> list[str]:
    for name in _NOT_IMPLEMENTED:
        if entry.get(name) is not None:
            raise GeneratorProblem(f"{where}.{name}: this generator is not implemented; use "
                                   "list, clusters, git, matrix or merge")
    allowed = _TERMINAL + _COMBINING
    unknown = [k for k in entry if k not in allowed and k != "selector"]
    if unknown:
        raise GeneratorProblem(f"{where}: unknown generator {unknown[0]!r}; use list, "
                               "clusters, git, matrix or merge")
    kinds = [k for k in allowed if entry.get(k) is not None]
    if not kinds:
        raise GeneratorProblem(f"{where}: names no generator; use list, clusters, git, "
                               "matrix or merge")
    if not top and len(kinds) > 1:
        raise GeneratorProblem(f"{where}: found more than one generator in one child "
                               f"({', '.join(kinds)}); give each its own entry")
    return kinds


def _values(spec: Mapping[str, Any], where: str) -> dict[str, str]:
    values = spec.get("values") or {}
    if not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values()):
        raise GeneratorProblem(f"{where}.values: must be a map of strings")
    return {str(k): v for k, v in values.items()}


def _with_values(params: Params, values: Mapping[str, str], run: _Run, where: str) -> Params:
    if not values:
        return params
    try:
        rendered = {k: run.engine.render(v, params, f"{where}.values.{k}")
                    for k, v in values.items()}
    except TemplateProblem as problem:
        raise GeneratorProblem(str(problem)) from None
    if run.engine.go_template:
        return {**params, "values": rendered}
    return {**params, **{f"values.{k}": v for k, v in rendered.items()}}


def _list(spec: Mapping[str, Any], where: str, run: _Run) -> list[Params]:
    elements = spec.get("elements") or []
    if not isinstance(elements, list):
        raise GeneratorProblem(f"{where}.elements: must be a list of objects")
    extra = spec.get("elementsYaml")
    if extra:
        if not isinstance(extra, str):
            raise GeneratorProblem(f"{where}.elementsYaml: must be a string of YAML")
        try:
            # The project's bounded loader: size, alias expansion and nesting are limited
            # (aliases allowed within the limits; a `*` in a quoted value is just text).
            budget = RenderBudget(_YAML_POLICY)
            budget.add_bytes(len(extra.encode()), f"{where}.elementsYaml")
            documents = load_yaml(extra, f"{where}.elementsYaml", budget)
        except RenderError as error:
            raise GeneratorProblem(str(error)) from None
        loaded = documents[0][1] if documents else []
        if not isinstance(loaded, list):
            raise GeneratorProblem(f"{where}.elementsYaml: must be a YAML list of objects")
        elements = [*elements, *loaded]
    out: list[Params] = []
    for index, element in enumerate(elements):
        at = f"{where}.elements[{index}]"
        if not isinstance(element, Mapping):
            raise GeneratorProblem(f"{at}: must be an object of parameters")
        if run.engine.go_template:
            out.append(dict(element))
            continue
        params: Params = {}
        for key, value in element.items():
            if key == "values" and isinstance(value, Mapping):
                for name, inner in value.items():
                    if not isinstance(inner, str):
                        raise GeneratorProblem(f"{at}.values.{name}: must be a string "
                                               "(quote it), or use goTemplate: true")
                    params[f"values.{name}"] = inner
            elif isinstance(value, str):
                params[str(key)] = value
            else:
                raise GeneratorProblem(f"{at}.{key}: must be a string (quote it), or use "
                                       "goTemplate: true")
        out.append(params)
    return out


def _clusters(spec: Mapping[str, Any], where: str, run: _Run) -> list[Params]:
    selector = spec.get("selector") or {}
    problem = selector_problem(selector, f"{where}.selector")
    if problem:
        raise GeneratorProblem(problem)
    if spec.get("flatList"):
        raise GeneratorProblem(f"{where}.flatList: not implemented; remove it")
    values = _values(spec, where)
    if run.sources.cluster_problems:
        # A broken Secret would drop its cluster from the list, and under `sync` its
        # Applications would be deleted: generate nothing until the Secret is fixed.
        first = run.sources.cluster_problems[0]
        raise GeneratorProblem(f"{where}: {first.message} (nothing was applied until the "
                               "cluster Secret is fixed)")
    has_selector = bool(selector.get("matchLabels") or selector.get("matchExpressions"))
    out: list[Params] = []
    for cluster in run.sources.clusters:
        if cluster.secret is None:
            if has_selector:
                continue  # the local cluster has no Secret, so no labels to match
            params: Params = {"name": cluster.name, "nameNormalized": cluster.name,
                              "server": cluster.server}
        else:
            # Keys with `/` (app.kubernetes.io/x) are fine for the selector itself.
            if has_selector and not matches_selector(dict(cluster.labels), selector):
                continue
            params = {"name": cluster.name, "nameNormalized": normalize(cluster.name),
                      "server": cluster.server, "project": cluster.project or ""}
            if run.engine.go_template:
                metadata: Params = {}
                if cluster.annotations:
                    metadata["annotations"] = dict(cluster.annotations)
                if cluster.labels:
                    metadata["labels"] = dict(cluster.labels)
                params["metadata"] = metadata
            else:
                params.update({f"metadata.annotations.{k}": v
                               for k, v in cluster.annotations.items()})
                params.update({f"metadata.labels.{k}": v for k, v in cluster.labels.items()})
        out.append(_with_values(params, values, run, where))
    return out


def _git(spec: Mapping[str, Any], where: str, run: _Run) -> list[Params]:
    values = _values(spec, where)
    sets = git_params(spec, where, run.sources.git, go_template=run.engine.go_template)
    return [_with_values(p, values, run, where) for p in sets]


def _children(spec: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    children = spec.get("generators")
    if not isinstance(children, list) or not all(isinstance(c, Mapping) for c in children):
        raise GeneratorProblem(f"{where}.generators: must be a list of generators")
    return children


def _child(entry: Mapping[str, Any], where: str, run: _Run, depth: int) -> list[Params]:
    (kind,) = _kinds(entry, where, top=False)
    if kind in _COMBINING and depth >= 2:
        raise GeneratorProblem(f"{where}.{kind}: matrix and merge nest at most two levels "
                               "deep")
    return _filtered(entry, kind, where, run, depth)


def _filtered(entry: Mapping[str, Any], kind: str, where: str, run: _Run,
              depth: int) -> list[Params]:
    selector = entry.get("selector")
    problem = selector_problem(selector, f"{where}.selector")
    if problem:
        raise GeneratorProblem(problem)
    spec = entry[kind]
    if not isinstance(spec, Mapping):
        raise GeneratorProblem(f"{where}.{kind}: must be an object")
    at = f"{where}.{kind}"
    if kind == "list":
        sets = _list(spec, at, run)
    elif kind == "clusters":
        sets = _clusters(spec, at, run)
    elif kind == "git":
        sets = _git(spec, at, run)
    elif kind == "matrix":
        sets = _matrix(spec, at, run, depth + 1)
    else:
        sets = _merge(spec, at, run, depth + 1)
    sets = [p for p in sets if matches_selector(p, selector)]
    return run.counted(sets, where)


def _matrix(spec: Mapping[str, Any], where: str, run: _Run, depth: int) -> list[Params]:
    children = _children(spec, where)
    if len(children) != 2:
        raise GeneratorProblem(f"{where}.generators: found {len(children)} generators, "
                               "matrix supports exactly two")
    firsts = _child(children[0], f"{where}.generators[0]", run, depth)
    out: list[Params] = []
    second_where = f"{where}.generators[1]"
    for first in firsts:
        try:
            # The second child may use the first's parameters: render its spec with them
            # (its own template is not used by a matrix, so it is left alone).
            second_spec = {k: (v if k == "template" else
                               render_tree(v, first, run.engine, f"{second_where}.{k}"))
                           for k, v in children[1].items()}
        except TemplateProblem as problem:
            raise GeneratorProblem(str(problem)) from None
        for second in _child(second_spec, second_where, run, depth):
            if run.engine.go_template:
                out.append(deep_merge(second, first))
            else:
                try:
                    out.append(combine_flat(first, second))
                except ValueError as error:
                    raise GeneratorProblem(f"{where}: {error}; rename one of the parameters "
                                           "(pathParamPrefix, values)") from None
        run.counted(out, where)
    return out


def _merge(spec: Mapping[str, Any], where: str, run: _Run, depth: int) -> list[Params]:
    children = _children(spec, where)
    if len(children) < 2:
        raise GeneratorProblem(f"{where}.generators: found {len(children)}, merge needs two "
                               "or more")
    keys = spec.get("mergeKeys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise GeneratorProblem(f"{where}.mergeKeys: name at least one parameter to merge on")
    unique = sorted(set(keys))

    def keyed(sets: list[Params], at: str) -> dict[str, Params]:
        by_key: dict[str, Params] = {}
        for params in sets:
            key = json.dumps({k: params.get(k) for k in unique}, sort_keys=True, default=str)
            if key in by_key:
                raise GeneratorProblem(f"{at}: the parameters are not unique by mergeKeys "
                                       f"(duplicate key {key}); merge needs unique sets")
            by_key[key] = params
        return by_key

    base = keyed(_child(children[0], f"{where}.generators[0]", run, depth),
                 f"{where}.generators[0]")
    for index, child in enumerate(children[1:], start=1):
        at = f"{where}.generators[{index}]"
        for key, override in keyed(_child(child, at, run, depth), at).items():
            if key in base:
                base[key] = deep_merge(base[key], override) if run.engine.go_template \
                    else {**base[key], **override}
    return list(base.values())


def generate(spec: AppSetSpec, sources: Sources, engine: Engine | None = None
             ) -> list[Generated]:
    """Every generator's parameter sets and template (see the module docstring); pass
    the `engine` the Applications will be rendered with, so one budget counts both."""
    run = _Run(engine or spec.engine, sources)
    out: list[Generated] = []
    total = 0
    for index, entry in enumerate(spec.generators):
        where = f"spec.generators[{index}]"
        for kind in _kinds(entry, where, top=True):
            params = _filtered(entry, kind, where, run, 0)
            own = entry[kind].get("template") if isinstance(entry[kind], Mapping) else None
            if own is not None and not isinstance(own, Mapping):
                raise GeneratorProblem(f"{where}.{kind}.template: must be an object")
            total += len(params)
            if total > MAX_PARAMETER_SETS:
                raise GeneratorProblem(f"spec.generators: more than {MAX_PARAMETER_SETS} "
                                       "parameter sets in all; narrow the generators")
            out.append(Generated(params, merge_template(spec.template, own), kind,
                                 f"{where}.{kind}"))
    return out


def _requeue(entry: Mapping[str, Any]) -> float | None:
    found: list[float] = []
    for kind in ("git", *_COMBINING):
        spec = entry.get(kind)
        if not isinstance(spec, Mapping):
            continue
        if kind == "git":
            seconds = spec.get("requeueAfterSeconds")
            found.append(float(seconds) if isinstance(seconds, (int, float))
                         and not isinstance(seconds, bool) and seconds > 0
                         else float(DEFAULT_REQUEUE_SECONDS))
        else:
            for child in spec.get("generators") or []:
                if isinstance(child, Mapping):
                    inner = _requeue(child)
                    if inner is not None:
                        found.append(inner)
    return min(found) if found else None


def requeue_seconds(spec: AppSetSpec) -> float | None:
    """When to generate again without an event (see the module docstring)."""
    found = [s for s in (_requeue(e) for e in spec.generators) if s is not None]
    return min(found) if found else None
