"""kubectl habits for commands that talk to a cluster: `-n`, `--context`, `--kubeconfig`.

`@kube_options` adds the three options to a click command and hands it one
`KubeOptions` (parameter `kube`). `KubeOptions.session()` builds the `KubeClient`;
`Session.calling(verb, resource, name)` is a context manager that turns every
`KubeError` into a one-line `UsageProblem` saying what to do next (`explain` is the pure
mapping, unit-tested). Neighbours: `rollout_cmds` (the commands), `rollouts.kube` (the
client and its error tree).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from rollouts.cli.errors import UsageProblem
from rollouts.kube import Forbidden, KubeClient, KubeError, NotFound, Unauthorized, Unavailable

__all__ = ["KubeOptions", "Session", "explain", "kube_options", "kubeconfig_contexts",
           "kubeconfig_namespace"]

DEFAULT_NAMESPACE = "default"


def kubeconfig_namespace(paths: list[Path], context: str | None) -> str | None:
    """The namespace of `context` (default: the current context) in merged kubeconfigs.

    Files are merged as kubectl does: the first file to set a value wins. Unreadable
    files count as empty, since the client reports a broken kubeconfig better.
    """
    current: str | None = None
    contexts: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            loaded = yaml.safe_load(path.expanduser().read_text())
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(loaded, dict):
            continue
        current = current or loaded.get("current-context") or None
        for entry in loaded.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("context"), dict):
                contexts.setdefault(str(entry.get("name")), entry["context"])
    chosen = contexts.get(context or current or "")
    namespace = chosen.get("namespace") if chosen else None
    return str(namespace) if namespace else None


def kubeconfig_contexts(explicit: str | None) -> list[str]:
    """The context names of the kubeconfig files (`--kubeconfig`, else $KUBECONFIG, else
    ~/.kube/config), in file order; unreadable files count as empty."""
    names: list[str] = []
    for path in _kubeconfig_paths(explicit):
        try:
            loaded = yaml.safe_load(path.expanduser().read_text())
        except (OSError, yaml.YAMLError):
            continue
        for entry in (loaded.get("contexts") or []) if isinstance(loaded, dict) else []:
            if isinstance(entry, dict) and entry.get("name") and entry["name"] not in names:
                names.append(str(entry["name"]))
    return names


def _kubeconfig_paths(explicit: str | None) -> list[Path]:
    listed = explicit or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(part) for part in listed.split(os.pathsep) if part]


def explain(
    error: KubeError, *, verb: str, resource: str, name: str | None, namespace: str | None,
    host: str,
) -> UsageProblem:
    """A one-line `UsageProblem` for a failed call, saying what to do next.

    `resource` is singular and readable (`rollout`, `replica sets`); `verb` is the API
    verb (`get`, `list`, `patch`).
    """
    where = f"in namespace '{namespace}'" if namespace else "in any namespace"
    what = f"{resource} '{name}'" if name else resource
    if isinstance(error, NotFound):
        if name and f'"{name}" not found' in error.message:
            hint = (f"list them with `rollouts list rollouts -n {namespace}`"
                    if resource == "rollout" else "check the name and the namespace (-n)")
            return UsageProblem(f"{what} not found {where}; {hint}")
        return UsageProblem(
            f"the API server at {host} does not serve {resource} ({error.message}); "
            "are the CRDs installed? (`kubectl apply -f manifests/crds`)")
    if isinstance(error, Forbidden):
        return UsageProblem(
            f"not allowed to {verb} {what} {where}: RBAC denied it ({error.message}); ask "
            "an admin for a Role that allows it, or pick another --context")
    if isinstance(error, Unauthorized):
        return UsageProblem(
            f"the API server at {host} refused the credentials ({error.message}); log in "
            "again or fix the kubeconfig (--kubeconfig, --context)")
    if isinstance(error, Unavailable):
        if error.status:
            return UsageProblem(
                f"the API server at {host} could not {verb} {what} (HTTP {error.status}: "
                f"{error.message}); try again in a moment")
        reason = error.message.split(f"cannot reach the API server at {host}: ", 1)[-1]
        return UsageProblem(
            f"cannot reach the API server at {host}: {reason}; is the cluster up? "
            "(`rollouts dev up`)")
    return UsageProblem(f"could not {verb} {what} {where}: {error.message}")


@dataclass(frozen=True)
class Session:
    """A connected client, the namespace to use, and error translation for its calls."""

    client: KubeClient
    namespace: str

    @contextmanager
    def calling(
        self, verb: str, resource: str, name: str | None = None,
        namespace: str | None = "",
    ) -> Iterator[None]:
        """Run API calls; a `KubeError` becomes a one-line `UsageProblem`.

        `namespace` defaults to the session's; None means all namespaces.
        """
        try:
            yield
        except KubeError as error:
            raise explain(
                error, verb=verb, resource=resource, name=name,
                namespace=self.namespace if namespace == "" else namespace,
                host=self.client.host,
            ) from error  # kept as __cause__: watch loops retry temporary errors


@dataclass(frozen=True)
class KubeOptions:
    """What the user chose with -n / --context / --kubeconfig."""

    namespace: str | None
    context: str | None
    kubeconfig: str | None

    def resolved_namespace(self) -> str:
        """`-n`, else the kubeconfig context's namespace, else `default`."""
        if self.namespace:
            return self.namespace
        found = kubeconfig_namespace(_kubeconfig_paths(self.kubeconfig), self.context)
        return found or DEFAULT_NAMESPACE

    def session(self) -> Session:
        """Connect (no request is sent yet); a broken kubeconfig is a `UsageProblem`."""
        try:
            client = KubeClient.from_kubeconfig(self.kubeconfig, self.context)
        except KubeError as error:
            raise UsageProblem(error.message) from None
        return Session(client, self.resolved_namespace())


def kube_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `-n/--namespace`, `--context` and `--kubeconfig`; pass them as `kube`."""

    @functools.wraps(command)
    def wrapper(*args: Any, namespace: str | None, context: str | None,
                kubeconfig: str | None, **kwargs: Any) -> Any:
        return command(*args, kube=KubeOptions(namespace, context, kubeconfig), **kwargs)

    options = [
        click.option("-n", "--namespace", default=None, metavar="NAMESPACE",
                     help="Namespace (default: the kubeconfig context's, else 'default')."),
        click.option("--context", default=None, metavar="NAME",
                     help="Kubeconfig context to use (default: the current one)."),
        click.option("--kubeconfig", default=None, metavar="PATH",
                     help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)."),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated
