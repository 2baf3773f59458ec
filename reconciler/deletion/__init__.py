"""Deleting an Application: Argo CD's `resources-finalizer.argocd.argoproj.io` cascade.

`plan` decides each pass purely (what is kept, which wave goes next, when to wait, when
to give up); `finalizer` reads the app's objects on its destination and issues the
deletes. The Application controller calls `deletion_pass` for a deleting app that
carries one of `CASCADE_FINALIZERS` and removes the finalizer when the pass says so.
"""

from reconciler.deletion.finalizer import DeletionPass, deletion_pass
from reconciler.deletion.plan import (
    BACKGROUND_FINALIZER,
    CASCADE_FINALIZERS,
    DELETION_TIMEOUT,
    FOREGROUND_FINALIZER,
    RESOURCES_FINALIZER,
    DeletionPlan,
    cascade_policy,
    kept_because,
    plan_deletion,
    without_cascade_finalizers,
)

__all__ = [
    "BACKGROUND_FINALIZER",
    "CASCADE_FINALIZERS",
    "DELETION_TIMEOUT",
    "FOREGROUND_FINALIZER",
    "RESOURCES_FINALIZER",
    "DeletionPass",
    "DeletionPlan",
    "cascade_policy",
    "deletion_pass",
    "kept_because",
    "plan_deletion",
    "without_cascade_finalizers",
]
