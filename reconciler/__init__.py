"""The Git-sourced reconciler: renders Applications from Git and keeps the cluster in sync.

Talks to the Rollout controller only through the objects it applies. The pieces, from Git
to status: `source` (Git), `charts` (Helm repositories and OCI registries), `render`
(directory, Kustomize, Helm), `compare` / `diff`
(server-side dry runs), `syncplan` (order), `sync` (execution), `health`, `app_status`
(the status record), `operation` (when to sync), `controller` (the reconcile loop),
`webhook` (Git push notifications).

The names below are loaded on first use, so that importing a pure module such as
`reconciler.health` does not import the API client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.controller import ApplicationController
    from reconciler.render import RenderError, render
    from reconciler.source import Credentials, GitSource, SourceError
    from reconciler.webhook import WebhookServer

__all__ = [
    "ApplicationController",
    "Credentials",
    "GitSource",
    "RenderError",
    "SourceError",
    "WebhookServer",
    "render",
]

_WHERE = {
    "ApplicationController": "reconciler.controller",
    "Credentials": "reconciler.source",
    "GitSource": "reconciler.source",
    "RenderError": "reconciler.render",
    "SourceError": "reconciler.source",
    "WebhookServer": "reconciler.webhook",
    "render": "reconciler.render",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
