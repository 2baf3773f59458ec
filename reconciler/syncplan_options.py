"""How one sync should run: `spec.syncPolicy.syncOptions` plus the sync's own flags.

    SyncOptions.parse(["CreateNamespace=true", "PruneLast=true"], prune=True)
    SyncOptions.for_application(app)              # an automated sync
    SyncOptions.for_application(app, app.operation)  # a requested one (`rollouts app sync`)

Options we implement: `CreateNamespace`, `PruneLast`, `ServerSideApply`,
`ApplyOutOfSyncOnly`, `Validate` (true|false) and `PrunePropagationPolicy`
(foreground|background|orphan; foreground by default, as in Argo CD). Argo CD options we
do not implement, a bad value, or an unknown name each add a warning (`warnings`) and
change nothing. Per-object options (`Prune=false`, `PruneLast=true`) live in the
object's `argocd.argoproj.io/sync-options` annotation (`syncplan_annotations`).
Pure; neighbour: `reconciler.syncplan`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from rollouts.api.application import (
    KNOWN_SYNC_OPTIONS,
    UNSUPPORTED_SYNC_OPTIONS,
    Application,
)
from rollouts.api.application_status import Operation

__all__ = ["SyncOptions"]

_FLAGS = {
    "CreateNamespace": "create_namespace",
    "PruneLast": "prune_last",
    "ServerSideApply": "server_side_apply",
    "ApplyOutOfSyncOnly": "apply_out_of_sync_only",
    "Validate": "validate",
}
_PROPAGATION = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}


@dataclass(frozen=True)
class SyncOptions:
    """Everything `plan_sync` and the sync executor need to know about how to sync."""

    prune: bool = False
    """Delete tracked objects that left Git (automated.prune, or `--prune`)."""
    dry_run: bool = False
    automated: bool = False
    """Started by automation rather than by a person (for the operation's `initiatedBy`)."""
    allow_empty: bool = False
    """Let an empty render prune everything (syncPolicy.automated.allowEmpty)."""
    create_namespace: bool = False
    prune_last: bool = False
    server_side_apply: bool = False
    apply_out_of_sync_only: bool = False
    validate: bool = True
    prune_propagation_policy: str = "Foreground"
    """For `KubeClient.delete(propagation=...)`: Foreground, Background or Orphan."""
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        options: Iterable[str] | None,
        *,
        prune: bool = False,
        dry_run: bool = False,
        automated: bool = False,
        allow_empty: bool = False,
    ) -> SyncOptions:
        """Options from `syncOptions` strings; later strings win over earlier ones."""
        values: dict[str, object] = {}
        warnings: list[str] = []
        for option in options or []:
            name, sep, raw = (part.strip() for part in option.partition("="))
            value = raw.lower()
            if name in _FLAGS:
                if not sep or value not in ("true", "false"):
                    warnings.append(f"sync option {option!r}: {name} takes true or false; "
                                    "ignored")
                    continue
                values[_FLAGS[name]] = value == "true"
            elif name == "PrunePropagationPolicy":
                if value not in _PROPAGATION:
                    warnings.append(f"sync option {option!r}: PrunePropagationPolicy takes "
                                    f"{KNOWN_SYNC_OPTIONS[name]}; ignored")
                    continue
                values["prune_propagation_policy"] = _PROPAGATION[value]
            elif name in UNSUPPORTED_SYNC_OPTIONS:
                warnings.append(f"sync option {option!r} is not implemented "
                                f"({UNSUPPORTED_SYNC_OPTIONS[name]}); ignored")
            else:
                known = ", ".join(KNOWN_SYNC_OPTIONS)
                warnings.append(f"sync option {option!r} is unknown (known: {known}); ignored")
        base = cls(prune=prune, dry_run=dry_run, automated=automated, allow_empty=allow_empty,
                   warnings=tuple(warnings))
        return dataclasses.replace(base, **values)  # type: ignore[arg-type]

    @classmethod
    def for_application(
        cls, app: Application, operation: Operation | None = None
    ) -> SyncOptions:
        """The options of a sync of `app`: the requested `operation`, or automation's.

        An operation's own `syncOptions` come after the Application's, so they win;
        `prune` and `dryRun` come from the operation when there is one, otherwise from
        `syncPolicy.automated.prune`.
        """
        policy = app.spec.sync_policy_or_default
        automated = policy.automated
        allow_empty = bool(automated and automated.allow_empty)
        options = list(policy.sync_options or [])
        sync = operation.sync if operation is not None else None
        if sync is None:
            return cls.parse(options, prune=bool(automated and automated.prune),
                             automated=True, allow_empty=allow_empty)
        initiated_by = operation.initiated_by if operation is not None else None
        return cls.parse(
            [*options, *(sync.sync_options or [])],
            prune=bool(sync.prune), dry_run=bool(sync.dry_run),
            automated=bool(initiated_by and initiated_by.automated),
            allow_empty=allow_empty,
        )
