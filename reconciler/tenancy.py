"""Which Applications this controller serves, and the name their objects are tracked by.

Argo CD's "applications in any namespace" rules, as pure functions:

- The controller has a **control namespace** (`rollouts controller -n`, else
  `--control-namespace`): its own Applications, AppProjects and repository Secrets live
  there. Applications in it are always served.
- Applications in another namespace are served only when that namespace matches one of
  `--application-namespaces` (Argo CD's globs, `team-*`, or `/regexp/`), and then only when
  their project's `sourceNamespaces` permits the namespace too (`reconciler.projects`). Any other
  Application gets an `InvalidSpecError` condition saying why, and nothing else.
- The **instance name** written into the tracking annotation is the Application's name in
  the control namespace and `<namespace>_<name>` elsewhere (Argo CD's format). A namespace
  or name cannot contain `_`, so two Applications never share an instance name: same-named
  Applications of two teams never adopt or prune each other's objects.

Neighbours: `reconciler.controller` (filters its keys with `namespace_problem` and tracks
with `instance_name`), `reconciler.tracking` (the annotation itself).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.projects import namespace_matches

__all__ = ["DEFAULT_CONTROL_NAMESPACE", "instance_name", "namespace_problem",
           "split_instance_name"]

DEFAULT_CONTROL_NAMESPACE = "rollouts"
"""The control namespace when neither --control-namespace nor -n names one."""


def instance_name(name: str, namespace: str, control_namespace: str) -> str:
    """The name an Application's objects carry in their tracking id.

    >>> instance_name("web", "rollouts", "rollouts")
    'web'
    >>> instance_name("web", "team-a", "rollouts")
    'team-a_web'
    """
    if not namespace or namespace == control_namespace:
        return name
    return f"{namespace}_{name}"


def split_instance_name(instance: str, control_namespace: str) -> tuple[str, str]:
    """`(namespace, name)` of the Application an instance name belongs to."""
    namespace, sep, name = instance.partition("_")
    return (namespace, name) if sep else (control_namespace, instance)


def namespace_problem(namespace: str, control_namespace: str,
                      patterns: Sequence[str], *, kind: str = "Application") -> str | None:
    """None when `kind`s (Applications, ApplicationSets) in `namespace` may be served, else
    why not (one line)."""
    if namespace == control_namespace:
        return None
    if namespace_matches(patterns, namespace):
        return None
    allowed = ", ".join(patterns) if patterns else "none"
    return (f"{kind}s in namespace {namespace!r} are not served: only namespace "
            f"{control_namespace!r} and those matching --application-namespaces ({allowed}); "
            f"move the {kind} to {control_namespace!r} or ask the operator to add "
            f"{namespace!r}")
