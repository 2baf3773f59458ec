"""ApplicationSets (Argo CD's `argoproj.io/v1alpha1` kind): Applications stamped out of
generators and a template, by a controller of their own.

The pieces, from spec to cluster: `spec` (the checked spec), `params` (parameter sets as
Argo names them), `generators` (list, clusters, matrix, merge) and `git` (directories and
files of a commit), `render` (templating an Application with fasttemplate or Go
templates), `decide` (creates, updates, deletes and the status; pure), `checkouts` (Git
through the reconciler's cache) and `controller` (the reconcile loop).

The Application controller never imports this package: the two talk only through the
Applications this one writes (`rollouts controller --controllers applicationsets`).
The controller is loaded on first use, so the pure modules do not import the API client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reconciler.appset.decide import Failure, Owner, Plan, check_desired, plan, status
from reconciler.appset.generators import Generated, GeneratorProblem, Sources, generate
from reconciler.appset.render import Engine, TemplateProblem, application
from reconciler.appset.spec import AppSetSpec, SpecProblem, SyncPolicy, read_spec

if TYPE_CHECKING:
    from reconciler.appset.controller import APPLICATION_SET, ApplicationSetController

__all__ = [
    "APPLICATION_SET",
    "AppSetSpec",
    "ApplicationSetController",
    "Engine",
    "Failure",
    "Generated",
    "GeneratorProblem",
    "Owner",
    "Plan",
    "Sources",
    "SpecProblem",
    "SyncPolicy",
    "TemplateProblem",
    "application",
    "check_desired",
    "generate",
    "plan",
    "read_spec",
    "status",
]

_LAZY = {"APPLICATION_SET", "ApplicationSetController"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'reconciler.appset' has no attribute {name!r}")
    return getattr(importlib.import_module("reconciler.appset.controller"), name)
