"""`rollouts app delete NAME`: delete an Application, with or without its resources.

Argo CD's contract, through the API server alone: whether the resources go with the
Application is the finalizer on it (`reconciler.deletion`). `--cascade` (the default, as
`argocd app delete`) makes sure it carries `resources-finalizer.argocd.argoproj.io`
(`--propagation-policy background`: the `/background` variant) before the delete;
`--cascade=false` removes every cascade finalizer first, so the resources stay. The patch
has the object's resourceVersion as a precondition. `--wait` polls until the Application
is gone (the controller has deleted its resources and removed the finalizer).

Neighbours: `app_cmds` (registers the command), `kubeopts` (the session and error mapping).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from reconciler.deletion import (
    BACKGROUND_FINALIZER,
    RESOURCES_FINALIZER,
    without_cascade_finalizers,
)
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options
from rollouts.kube import APPLICATION, NotFound

__all__ = ["delete_app", "delete_command", "finalizers_for"]

Obj = dict[str, Any]
POLL_SECONDS = 0.5


def finalizers_for(current: list[Any], *, cascade: bool, policy: str) -> list[Any]:
    """The finalizers an Application gets before it is deleted (others' are kept)."""
    kept = without_cascade_finalizers(current)
    if not cascade:
        return kept
    return [*kept, BACKGROUND_FINALIZER if policy == "background" else RESOURCES_FINALIZER]


def delete_app(session: Session, name: str, *, cascade: bool, policy: str, wait: float | None,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> None:
    """Set the finalizers as asked, delete, and (with `wait`) poll until it is gone."""
    client, namespace = session.client, session.namespace
    try:
        with session.calling("get", "application", name):
            app = client.get(APPLICATION, namespace, name)
    except UsageProblem as problem:
        if isinstance(problem.__cause__, NotFound):
            raise UsageProblem(f"application '{name}' not found in namespace '{namespace}'; "
                               f"list them with `rollouts app list -n {namespace}`") from None
        raise
    metadata = app.get("metadata") or {}
    current = list(metadata.get("finalizers") or [])
    wanted = finalizers_for(current, cascade=cascade, policy=policy)
    if wanted != current:
        with session.calling("patch", "application", name):
            client.patch(APPLICATION, namespace, name, {"metadata": {
                "finalizers": wanted or None,
                "resourceVersion": metadata.get("resourceVersion")}}, "merge")
    with session.calling("delete", "application", name):
        client.delete(APPLICATION, namespace, name)
    if wait is None:
        return
    started = clock()
    while True:
        try:
            client.get(APPLICATION, namespace, name)
        except NotFound:
            return
        if wait and clock() - started >= wait:
            raise UsageProblem(
                f"application '{name}' is still there after {wait:g} s: its resources are "
                f"being deleted; see `rollouts app get {name} -n {namespace}` and the events")
        sleep(POLL_SECONDS)


@click.command("delete")
@click.argument("name")
@click.option("--cascade", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              show_default=True, metavar="[=true|false]",
              help="Delete the application's resources too (the resources finalizer); "
                   "--cascade=false leaves them, as in argocd.")
@click.option("-p", "--propagation-policy", "policy",
              type=click.Choice(["foreground", "background"]), default="foreground",
              show_default=True, help="How the cascade deletes each resource.")
@click.option("--wait", is_flag=True, help="Wait until the application is gone.")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds --wait waits (0: forever).")
@kube_options
def delete_command(name: str, cascade: bool, policy: str, wait: bool, timeout: float,
                   kube: KubeOptions) -> None:
    """Delete an application; with --cascade (the default) the controller deletes its
    resources first, without it they stay."""
    delete_app(kube.session(), name, cascade=cascade, policy=policy,
               wait=timeout if wait else None)
    click.echo(f"application '{name}' deleted" + ("" if wait else " (resources: "
               + ("being deleted by the controller)" if cascade else "left in place)")))
