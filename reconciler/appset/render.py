"""Templating: parameters into an Application template, and into a matrix child (pure).

Every string of the template is rendered, map keys included (labels and annotations may
be templated), as Argo CD does; numbers and booleans are left as they are. Two engines:

- `goTemplate: false`: fasttemplate (`rollouts.templating.fast.render_fast`): `{{name}}`
  is replaced by the flat parameter `name`; an unknown `{{x}}` stays as written;
- `goTemplate: true`: Go's text/template with Sprig (`rollouts.templating.go.render_go`)
  over the nested parameters; with `goTemplateOptions: ["missingkey=error"]` a missing
  key is an error, otherwise it prints `<no value>`.

Rendering is bounded: one field renders to at most `MAX_RENDERED_CHARS` characters, one
Application to at most `MAX_APPLICATION_CHARS` (the API server's own limit of an object
is 1.5 MiB), and everything one `Engine` renders (one reconcile: the generators' values,
matrix children and every Application) to at most `MAX_RENDERED_TOTAL` (10,000
parameter sets of `{{ repeat 1000000 "x" }}` would otherwise build gigabytes).

A render error becomes `TemplateProblem` naming the field (`template.spec.source.path`)
and the engine's reason, for the ApplicationSet's `ErrorOccurred` condition.

`application(...)` builds one Application from the (merged) template: metadata name,
namespace, labels, annotations and finalizers, and the spec. Argo's finalizer rule: the
`resources-finalizer.argocd.argoproj.io` finalizer is added when the template names no
finalizers and `syncPolicy.preserveResourcesOnDeletion` is false, so deleting the
Application also deletes what it deployed; with `preserveResourcesOnDeletion: true` the
Application is created without it and its resources stay when it goes.

`merge_template(base, override)` lays a generator's own `template` over the
ApplicationSet's: fields the generator template leaves empty come from the base.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.appset.params import deep_merge

__all__ = [
    "MAX_APPLICATION_CHARS",
    "MAX_RENDERED_TOTAL",
    "RESOURCES_FINALIZER",
    "Engine",
    "RenderedChars",
    "TemplateProblem",
    "application",
    "merge_template",
    "render_tree",
]

RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
MAX_RENDERED_CHARS = 1_000_000
"""Longest string one template field may render to (a template is no way to build GBs)."""
MAX_APPLICATION_CHARS = 1536 * 1024
"""Most characters the template fields of one Application may render to (the API
server's limit of one object: 1.5 MiB)."""
MAX_RENDERED_TOTAL = 64 * 1024 * 1024
"""Most characters one reconcile may render in all fields of all Applications."""


class TemplateProblem(ValueError):
    """A template did not render: one line naming the field and the reason."""


class RenderedChars:
    """Characters rendered so far by one `Engine` (one reconcile; not thread-safe)."""

    def __init__(self, limit: int = MAX_RENDERED_TOTAL) -> None:
        self.limit = limit
        self.used = 0

    def add(self, size: int, where: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise TemplateProblem(
                f"{where}: the templates render more than {self.limit} characters in all "
                "(the limit of one ApplicationSet); generate fewer Applications or render "
                "less into each")


@dataclass(frozen=True)
class Engine:
    """Which templating the ApplicationSet asked for, and what it rendered so far (make
    one per reconcile: `AppSetSpec.engine`)."""

    go_template: bool = False
    missing_key_error: bool = False
    rendered: RenderedChars = field(default_factory=RenderedChars, compare=False,
                                    repr=False)

    def render(self, text: str, params: Mapping[str, Any], where: str) -> str:
        if "{{" not in text:
            return text  # nothing to render: both engines would return it unchanged
        # Imported here: only ApplicationSets with a template to render load the engines.
        from rollouts.templating.fast import render_fast
        from rollouts.templating.go import TemplateError, render_go

        out: str
        try:
            if self.go_template:
                out = render_go(text, dict(params), name=where,
                                missing_key_error=self.missing_key_error)
            else:
                out = render_fast(text, {k: v for k, v in params.items()
                                         if isinstance(v, str)})
        except TemplateError as error:
            # The engine names the template it was given (`where`): say it once.
            reason = _one_line(str(error))
            own = f"template {where}:"
            if reason.startswith(own):
                raise TemplateProblem(f"{where}:{reason[len(own):]}") from None
            raise TemplateProblem(f"{where}: {reason}") from None
        except RecursionError:
            raise TemplateProblem(f"{where}: the template nests too deeply") from None
        if len(out) > MAX_RENDERED_CHARS:
            raise TemplateProblem(f"{where}: renders to more than {MAX_RENDERED_CHARS} "
                                  "characters; simplify the template")
        self.rendered.add(len(out), where)
        return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_tree(tree: Any, params: Mapping[str, Any], engine: Engine, where: str) -> Any:
    """A copy of `tree` (maps, lists, scalars) with every string and map key rendered."""
    if isinstance(tree, str):
        return engine.render(tree, params, where)
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            name = engine.render(str(key), params, f"{where} (key {key!r})")
            out[name] = render_tree(value, params, engine, f"{where}.{key}")
        return out
    if isinstance(tree, list):
        return [render_tree(item, params, engine, f"{where}[{index}]")
                for index, item in enumerate(tree)]
    return tree


def merge_template(base: Mapping[str, Any], override: Mapping[str, Any] | None
                   ) -> dict[str, Any]:
    """`override` (a generator's `template`) over `base` (the ApplicationSet's): maps
    merge key by key; an empty field of `override` takes the `base` value."""
    return deep_merge(base, override or {}, skip_empty=True)


def application(template: Mapping[str, Any], params: Mapping[str, Any], engine: Engine, *,
                namespace: str, preserve_resources: bool) -> dict[str, Any]:
    """The Application `template` describes for one parameter set (its `metadata.name`
    rendered; checked later by `reconciler.appset.decide`)."""
    if params:
        before = engine.rendered.used
        rendered = render_tree({"metadata": template.get("metadata") or {},
                                "spec": template.get("spec") or {}}, params, engine, "template")
        if engine.rendered.used - before > MAX_APPLICATION_CHARS:
            raise TemplateProblem(f"template: renders an Application of more than "
                                  f"{MAX_APPLICATION_CHARS} characters (the API server's "
                                  "limit of one object); render less into it")
    else:
        # Argo returns the template untouched (and adds no finalizer) for an empty set.
        rendered = {"metadata": dict(template.get("metadata") or {}),
                    "spec": template.get("spec") or {}}
    metadata = rendered["metadata"]
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise TemplateProblem("template.metadata.name: renders to an empty name; give the "
                              "template a name such as '{{name}}-app'")
    wanted_namespace = metadata.get("namespace")
    if wanted_namespace not in (None, "", namespace):
        raise TemplateProblem(
            f"template.metadata.namespace: {wanted_namespace!r} is not the ApplicationSet's "
            f"namespace {namespace!r}; Applications are created beside their ApplicationSet, "
            "remove the field")
    finalizers = list(metadata.get("finalizers") or [])
    if params and not preserve_resources and not finalizers:
        finalizers = [RESOURCES_FINALIZER]
    out_metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    for name_of in ("labels", "annotations"):
        values = metadata.get(name_of)
        if values:
            if not isinstance(values, Mapping):
                raise TemplateProblem(f"template.metadata.{name_of}: must be a map of strings")
            out_metadata[name_of] = {str(k): str(v) for k, v in values.items()}
    if finalizers:
        out_metadata["finalizers"] = [str(f) for f in finalizers]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": out_metadata, "spec": rendered["spec"]}
