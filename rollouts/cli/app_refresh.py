"""`rollouts app get --refresh / --hard-refresh`: ask the controller to look again, now.

Argo CD's contract: the annotation `argocd.argoproj.io/refresh` set to `normal` or `hard`
on the Application; the controller asks Git at once (one `ls-remote`, a fetch if the
commit is new), compares, writes the status and then removes the annotation (after the
status, so the status read once it is gone is the refreshed one). `hard` also makes it
render the source again instead of using its cached render (and redo its dry-run
diffs). `refresh` sets the annotation and polls until it is gone, then returns the
Application as it is then; a controller that does not answer in time is a one-line
error saying so.

Neighbours: `app_cmds` (the `get` command), `kubeopts` (the session and error mapping).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rollouts.api.application import REFRESH_ANNOTATION, REFRESH_HARD, REFRESH_NORMAL
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import Session
from rollouts.kube import APPLICATION

__all__ = ["HARD", "NORMAL", "REFRESH_ANNOTATION", "REFRESH_WAIT", "refresh", "refresh_patch",
           "refreshed"]

Obj = dict[str, Any]
NORMAL, HARD = REFRESH_NORMAL, REFRESH_HARD
REFRESH_WAIT = 120.0
"""Seconds to wait for the controller to take the annotation away."""
POLL_SECONDS = 0.2


def refresh_patch(kind: str) -> Obj:
    """The merge patch asking for a refresh (`normal` or `hard`), as Argo CD's API sets it."""
    return {"metadata": {"annotations": {REFRESH_ANNOTATION: kind}}}


def refreshed(app: Obj) -> bool:
    """Whether the controller has processed the refresh (the annotation is gone)."""
    annotations = (app.get("metadata") or {}).get("annotations") or {}
    return REFRESH_ANNOTATION not in annotations


def refresh(session: Session, name: str, kind: str, fetch: Callable[[], Obj], *,
            wait: float = REFRESH_WAIT, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Obj:
    """Set the refresh annotation on `name`, wait until the controller removed it, and
    return the Application then (`fetch` reads it)."""
    fetch()  # a missing application is its own one-line error, before any patch
    with session.calling("patch", "application", name):
        session.client.patch(APPLICATION, session.namespace, name, refresh_patch(kind),
                             "merge")
    started = clock()
    while True:
        app = fetch()
        if refreshed(app):
            return app
        if clock() - started >= wait:
            raise UsageProblem(
                f"application '{name}' was not refreshed within {wait:g}s: the annotation "
                f"{REFRESH_ANNOTATION}={kind} is still set; is `rollouts controller` "
                "running for this namespace?")
        sleep(POLL_SECONDS)
