"""The controls of a Rollout as patches: pure builders the CLI commands send.

As in Argo's kubectl plugin, every control is a patch the controller reacts to
(`rollouts.canary.steps` documents how):

| control          | patch                                                           |
| ---------------- | --------------------------------------------------------------- |
| promote          | spec `{paused: false}` when `spec.paused`; status               |
|                  | `{pauseConditions: null}` when paused by the controller (a      |
|                  | canary pause step, a BlueGreenPause); else, for a canary only,  |
|                  | status `{currentStepIndex: i + 1}` (skips a setWeight/analysis) |
| promote --full   | status `{promoteFull: true}` unless the current pod hash is     |
|                  | already stable (and spec `{paused: false}`)                     |
| abort / retry    | status `{abort: true}` / `{abort: false}`                       |
| pause            | spec `{paused: true}`                                           |
| restart          | spec `{restartAt: <now>}`                                       |
| set image        | JSON patch of `spec.template...containers[i].image`             |
| undo             | JSON patch replacing `spec.template` with an older ReplicaSet's |

Status patches go to the status subresource (`Patch.subresource == "status"`). Blue-green
Rollouts take the same patches (Argo's plugin sends the same ones): a BlueGreenPause is a
pause condition like a canary's (`status.controllerPause` stays true, so the controller
knows the pause happened and was lifted); blue-green has no step index to raise.
Neighbours: `rollout_cmds` sends these; `rollout_view` renders.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from rollouts.api.common import format_time
from rollouts.cli.errors import UsageProblem
from rollouts.core.observed import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    ReplicaSetView,
    comparable_template,
    pod_template_hash,
)

__all__ = [
    "Patch",
    "abort_patch",
    "owned_revisions",
    "parse_image_assignments",
    "pause_patch",
    "promote_patches",
    "restart_patch",
    "retry_patch",
    "rollout_template",
    "set_image_patch",
    "undo_patch",
]

ANY_CONTAINER = "*"


@dataclass(frozen=True)
class Patch:
    """One PATCH request: body, type (merge or JSON patch) and subresource."""

    body: dict[str, Any] | list[dict[str, Any]]
    patch_type: Literal["merge", "json"] = "merge"
    subresource: str | None = None


def _status(**fields: Any) -> Patch:
    return Patch({"status": fields}, "merge", "status")


def _spec(**fields: Any) -> Patch:
    return Patch({"spec": fields}, "merge")


def _is_canary(rollout: dict[str, Any]) -> bool:
    return ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") is not None


def _steps(rollout: dict[str, Any]) -> list[Any]:
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return list(canary.get("steps") or [])


def _fully_promoted(rollout: dict[str, Any]) -> bool:
    """Whether the controller has seen the latest spec and its pod hash is the stable one."""
    metadata = rollout.get("metadata") or {}
    status = rollout.get("status") or {}
    observed = str(status.get("observedGeneration")) == str(metadata.get("generation"))
    current = status.get("currentPodHash")
    return observed and bool(current) and current == status.get("stableRS")


def promote_patches(rollout: dict[str, Any], *, full: bool = False) -> list[Patch]:
    """The patches `promote` sends; empty when there is nothing to promote.

    A rollout paused by the user (`spec.paused`) is resumed and nothing is skipped; a
    pause of the controller's (`status.pauseConditions`: a canary pause step, a
    BlueGreenPause) is cleared, and the controller moves on; otherwise a canary's
    current step (a setWeight still converging, an analysis still running) is skipped
    by raising `currentStepIndex`. A canary with no step index yet (the controller has
    not seen it) or past its last step, or a blue-green rollout not paused, has nothing
    to promote. `full` asks for `promoteFull` (all steps, pauses and analyses skipped)
    unless the controller already reports the current pod hash as stable, as Argo's
    plugin does: a flag left on a finished rollout would skip the next update's pauses.
    """
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    patches: list[Patch] = []
    if spec.get("paused"):
        patches.append(_spec(paused=False))
    if full:
        return patches if _fully_promoted(rollout) else [*patches, _status(promoteFull=True)]
    if status.get("pauseConditions"):
        patches.append(_status(pauseConditions=None))
    elif (not spec.get("paused") and _is_canary(rollout)
          and status.get("currentStepIndex") is not None):
        index = int(status["currentStepIndex"])
        if index < len(_steps(rollout)):
            patches.append(_status(currentStepIndex=index + 1))
    return patches


def abort_patch() -> Patch:
    return _status(abort=True)


def retry_patch() -> Patch:
    return _status(abort=False)


def pause_patch() -> Patch:
    return _spec(paused=True)


def restart_patch(now: datetime) -> Patch:
    """`restartAt` is the next whole second: creation timestamps are whole seconds, so a pod
    created in the same second as the command still counts as older than the restart, and a
    replacement (made once `now >= restartAt`) never does."""
    return _spec(restartAt=format_time(now.replace(microsecond=0) + timedelta(seconds=1)))


def parse_image_assignments(texts: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """`["app=nginx:1.27", "*=busybox"]` -> `[("app", "nginx:1.27"), ("*", "busybox")]`."""
    pairs: list[tuple[str, str]] = []
    for text in texts:
        container, sep, image = text.partition("=")
        if not sep or not container.strip() or not image.strip() or " " in text.strip():
            raise UsageProblem(
                f"bad CONTAINER=IMAGE '{text}': write NAME=IMAGE (e.g. app=nginx:1.27), "
                "or *=IMAGE for every container")
        pairs.append((container.strip(), image.strip()))
    if not pairs:
        raise UsageProblem("give at least one CONTAINER=IMAGE (e.g. app=nginx:1.27)")
    return pairs


def set_image_patch(rollout: dict[str, Any], assignments: list[tuple[str, str]]) -> Patch:
    """A JSON patch setting images by container index, each guarded by a `test` of its name
    (so a template changed meanwhile is refused instead of patched in the wrong place)."""
    name = (rollout.get("metadata") or {}).get("name", "")
    spec = rollout.get("spec") or {}
    if spec.get("workloadRef") and not spec.get("template"):
        workload = spec["workloadRef"]
        raise UsageProblem(
            f"rollout '{name}' takes its pod template from {workload.get('kind', 'Deployment')} "
            f"'{workload.get('name', '?')}' (workloadRef): set the image there, e.g. "
            f"`kubectl set image deployment/{workload.get('name', '?')} CONTAINER=IMAGE`")
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    lists = [(field, list(pod_spec.get(field) or []))
             for field in ("initContainers", "containers")]
    ops: list[dict[str, Any]] = []
    for container, image in assignments:
        matched = False
        for field, containers in lists:
            for index, entry in enumerate(containers):
                if container not in (ANY_CONTAINER, entry.get("name")):
                    continue
                matched = True
                path = f"/spec/template/spec/{field}/{index}"
                ops.append({"op": "test", "path": f"{path}/name", "value": entry.get("name")})
                ops.append({"op": "replace", "path": f"{path}/image", "value": image})
        if not matched:
            names = [str(c.get("name")) for c in lists[1][1]]
            init = [str(c.get("name")) for c in lists[0][1]]
            existing = ", ".join(names) or "none"
            if init:
                existing += f" (init: {', '.join(init)})"
            raise UsageProblem(
                f"rollout '{name}' has no container '{container}'; its containers: "
                f"{existing}")
    return Patch(ops, "json")


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def _revision(obj: dict[str, Any]) -> int | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION_ANNOTATION, ""))
    except ValueError:
        return None


def owned_revisions(
    rollout: dict[str, Any], replica_sets: list[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """The Rollout's ReplicaSets by revision (the newest ReplicaSet of a revision wins)."""
    uid = (rollout.get("metadata") or {}).get("uid", "")
    found: dict[int, dict[str, Any]] = {}
    for rs in sorted(replica_sets,
                     key=lambda r: str((r.get("metadata") or {}).get("creationTimestamp", ""))):
        revision = _revision(rs)
        if revision is not None and _owned_by(rs, uid):
            found[revision] = rs
    return found


def _current_revision(rollout: dict[str, Any], revisions: dict[int, dict[str, Any]]) -> int:
    current_hash = (rollout.get("status") or {}).get("currentPodHash")
    for revision, rs in revisions.items():
        labels = (rs.get("metadata") or {}).get("labels") or {}
        if current_hash and labels.get(HASH_LABEL) == current_hash:
            return revision
    return max(revisions)


def undo_patch(
    rollout: dict[str, Any], replica_sets: list[dict[str, Any]], to_revision: int = 0
) -> tuple[int, Patch]:
    """The revision to go back to and the JSON patch putting its template in place.

    `to_revision` 0 means the previous revision: the highest one below the current one.
    """
    name = (rollout.get("metadata") or {}).get("name", "")
    if (rollout.get("spec") or {}).get("workloadRef"):
        raise UsageProblem(
            f"rollout '{name}' takes its pod template from a workloadRef: undo the change "
            "on the Deployment instead (`kubectl rollout undo deployment/NAME`)")
    revisions = owned_revisions(rollout, replica_sets)
    if not revisions:
        raise UsageProblem(f"rollout '{name}' has no ReplicaSets with a revision to go back to")
    listed = ", ".join(str(r) for r in sorted(revisions))
    if to_revision:
        if to_revision not in revisions:
            raise UsageProblem(
                f"rollout '{name}' has no revision {to_revision}; its revisions: {listed}")
        target = to_revision
    else:
        current = _current_revision(rollout, revisions)
        older = [r for r in revisions if r < current]
        if not older:
            raise UsageProblem(
                f"rollout '{name}' has no revision before {current} to go back to "
                f"(revisions: {listed}); pass --to-revision")
        target = max(older)
    return target, Patch([{"op": "replace", "path": "/spec/template",
                           "value": rollout_template(revisions[target])}], "json")


_POD_DEFAULTS: dict[str, Any] = {
    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
    "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30}
_CONTAINER_DEFAULTS: dict[str, Any] = {
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    "resources": {}}
_PROBE_DEFAULTS: dict[str, Any] = {
    "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}


def _drop_defaults(obj: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if key in obj and obj[key] == value:
            del obj[key]


def _pull_policy_default(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    tagged = ":" in name and not name.endswith(":latest")
    return "IfNotPresent" if tagged or "@" in image else "Always"


def _without_api_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """The template minus the values the API server fills into a ReplicaSet's template."""
    clean = copy.deepcopy(template)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict) and "creationTimestamp" in metadata and (
            metadata["creationTimestamp"] is None):
        del metadata["creationTimestamp"]
    spec = clean.get("spec") or {}
    _drop_defaults(spec, _POD_DEFAULTS)
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            _drop_defaults(container, _CONTAINER_DEFAULTS)
            _drop_defaults(container, {"imagePullPolicy": _pull_policy_default(
                str(container.get("image", "")))})
            for port in container.get("ports") or []:
                _drop_defaults(port, {"protocol": "TCP"})
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if isinstance(container.get(probe), dict):
                    _drop_defaults(container[probe], _PROBE_DEFAULTS)
                    if isinstance(container[probe].get("httpGet"), dict):
                        _drop_defaults(container[probe]["httpGet"], {"scheme": "HTTP"})
    return clean


def rollout_template(replica_set: dict[str, Any]) -> dict[str, Any]:
    """The Rollout template that made `replica_set`, as closely as it can be recovered.

    The API server fills defaults into a ReplicaSet's pod template (a Rollout's, being a
    CRD, stays as written), so the template is copied without those defaults when that
    gives back exactly the pod hash the ReplicaSet carries: the controller then knows
    the revision again (no new ReplicaSet; back to stable is a fast rollback). Otherwise
    the ReplicaSet's template is used as it is, minus our hash label. Either way the
    role metadata and anti-affinity the controller added to the set are left out.
    """
    view = ReplicaSetView.parse(replica_set)
    labels = (view.template.get("metadata") or {}).get("labels")
    pod_hash = labels.get(HASH_LABEL) if isinstance(labels, dict) else None
    # What the controller added to the set's template is not the Rollout's: the ephemeral
    # metadata of its role (recorded on the set) and an injected anti-affinity.
    added = {key for section in view.ephemeral.values() if isinstance(section, dict)
             for key in section}
    template = comparable_template(view.template, added)
    recovered = _without_api_defaults(template)
    return recovered if pod_hash and pod_template_hash(recovered) == pod_hash else template
