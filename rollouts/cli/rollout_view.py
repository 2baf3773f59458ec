"""How the CLI shows Rollouts: pure text from API objects (plain dicts) and `now`.

- `effective_phase` / `status_line`: the phase a user should believe (a spec change the
  controller has not observed yet is still Progressing, whatever the old status says);
- `set_weight`, `actual_weight`: the weight asked for by the steps, and the weight the
  pods (or the traffic router) actually carry (None for blue-green);
- `replica_set_tags`: Argo's INFO tags of a ReplicaSet: `stable`, `canary` (canary);
  `stable`, `active`, `preview` (blue-green, from `status.blueGreen.*Selector`);
- `waiting_for`: what the rollout waits on, computed from spec + status + now;
- `render_tree`: the `get rollout` view (header, then revisions -> ReplicaSets -> pods
  and AnalysisRuns), in the shape of Argo's kubectl plugin;
- `render_list`: the `list rollouts` table.

Neighbours: `rollout_cmds` fetches the objects and prints these strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError
from rollouts.core.observed import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
)

__all__ = [
    "actual_weight",
    "age",
    "effective_phase",
    "human_duration",
    "render_list",
    "render_tree",
    "replica_set_tags",
    "scale_down_delay",
    "set_weight",
    "status_line",
    "strategy_name",
    "waiting_for",
]

ICONS = {"Healthy": "✔", "Successful": "✔", "Running": "◌", "Progressing": "◌",
         "Paused": "॥", "Pending": "◷", "Degraded": "✖", "Failed": "✖", "Error": "⚠",
         "Inconclusive": "⚠", "ScaledDown": "•", "Terminating": "◌", "Completed": "✔"}
KIND_ICONS = {"Rollout": "⟳", "Revision": "#", "ReplicaSet": "⧉", "Pod": "□",
              "AnalysisRun": "\u03b1"}  # Greek alpha, as Argo draws it
_LABEL_WIDTH = 17
_MAX_VALUE = 40


def _get(obj: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _icon(phase: str) -> str:
    return f"{ICONS.get(phase, '?')} {phase}"


def _replicas(rollout: dict[str, Any]) -> int:
    replicas = _get(rollout, "spec", "replicas")
    return 1 if replicas is None else _int(replicas)


def _name(obj: dict[str, Any]) -> str:
    return str(_get(obj, "metadata", "name") or "")


def age(created: Any, now: datetime) -> str:
    """kubectl's short age: 42s, 3m10s, 95m, 5h12m, 30h, 3d4h, 12d."""
    start = _time(created)
    if start is None:
        return "-"
    return human_duration(int((now - start).total_seconds()))


def human_duration(seconds: int) -> str:
    """kubectl's (and Argo's plugin's) short duration: 42s, 3m10s, 95m, 5h12m, 30h, 3d4h."""
    seconds = max(0, seconds)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


# --- phase, step and weights -----------------------------------------------------------

def _canary(rollout: dict[str, Any]) -> dict[str, Any] | None:
    canary = _get(rollout, "spec", "strategy", "canary")
    return canary if isinstance(canary, dict) else None


def _blue_green(rollout: dict[str, Any]) -> dict[str, Any] | None:
    blue_green = _get(rollout, "spec", "strategy", "blueGreen")
    return blue_green if isinstance(blue_green, dict) else None


def strategy_name(rollout: dict[str, Any]) -> str:
    """`Canary`, `BlueGreen`, or `""` without a strategy (Argo's plugin leaves it empty)."""
    if _canary(rollout) is not None:
        return "Canary"
    return "BlueGreen" if _blue_green(rollout) is not None else ""


def _steps(rollout: dict[str, Any]) -> list[dict[str, Any]]:
    canary = _canary(rollout) or {}
    return [s if isinstance(s, dict) else {} for s in canary.get("steps") or []]


def _step_index(rollout: dict[str, Any]) -> int:
    return _int(_get(rollout, "status", "currentStepIndex"))


def effective_phase(rollout: dict[str, Any]) -> tuple[str, str]:
    """(phase, message); Progressing while the controller has not seen the latest spec."""
    status = rollout.get("status") or {}
    generation = _get(rollout, "metadata", "generation")
    observed = status.get("observedGeneration")
    if generation is not None and str(observed) != str(generation):
        return "Progressing", f"waiting for the controller to observe generation {generation}"
    phase = str(status.get("phase") or "")
    if not phase:
        return "Progressing", "waiting for the controller to report a phase"
    return phase, str(status.get("message") or "")


def status_line(rollout: dict[str, Any]) -> str:
    """`Paused - CanaryPauseStep (step 1/4)`, as `status` prints it."""
    phase, message = effective_phase(rollout)
    line = f"{phase} - {message}" if message else phase
    steps = _steps(rollout)
    if steps and phase != "Healthy":
        line += f" (step {min(_step_index(rollout), len(steps))}/{len(steps)})"
    return line


def set_weight(rollout: dict[str, Any]) -> int | None:
    """The weight the steps ask for now (None for blue-green): the last setWeight at or
    before the current step; 0 when aborted, 100 past the last step or promoted fully."""
    if _canary(rollout) is None:
        return None
    status = rollout.get("status") or {}
    steps = _steps(rollout)
    index = _step_index(rollout)
    if status.get("abort"):
        return 0
    if status.get("promoteFull") or index >= len(steps):
        return 100
    weight = 0
    for step in steps[: index + 1]:
        if step.get("setWeight") is not None:
            weight = _int(step.get("setWeight"))
    return weight


def _hash(obj: dict[str, Any]) -> str:
    return str(_get(obj, "metadata", "labels", HASH_LABEL) or "")


def actual_weight(rollout: dict[str, Any], replica_sets: list[dict[str, Any]]) -> int | None:
    """The weight the canary really carries (None for blue-green).

    With a traffic router it is what the controller recorded in
    `status.canary.weights.canary.weight`. Without one, traffic follows pods:
    canary available pods x 100 / all available pods, rounded down (0 when none is
    available). E.g. 1 of 5 available pods in the canary -> 20.
    """
    canary = _canary(rollout)
    if canary is None:
        return None
    if canary.get("trafficRouting"):
        recorded = _get(rollout, "status", "canary", "weights", "canary", "weight")
        return _int(recorded) if recorded is not None else None
    current = _get(rollout, "status", "currentPodHash")
    total = sum(_int(_get(rs, "status", "availableReplicas")) for rs in replica_sets)
    in_canary = sum(_int(_get(rs, "status", "availableReplicas")) for rs in replica_sets
                    if current and _hash(rs) == current)
    return in_canary * 100 // total if total else 0


# --- what the rollout waits on ---------------------------------------------------------

def _pause_seconds(step: dict[str, Any]) -> float | None:
    pause = step.get("pause")
    if not isinstance(pause, dict) or pause.get("duration") is None:
        return None
    try:
        return Duration.parse(pause["duration"]).seconds
    except SpecError:
        return None


def _auto_promotion_seconds(rollout: dict[str, Any]) -> float | None:
    """Seconds a BlueGreenPause lasts before the controller promotes by itself; None when
    it waits for `promote`. As in Argo's controller, only a rollout with
    `autoPromotionEnabled: false` pauses at all, and `autoPromotionSeconds` then ends the
    pause that long after its `startTime`."""
    blue_green = _blue_green(rollout) or {}
    seconds = _int(blue_green.get("autoPromotionSeconds"))
    if blue_green.get("autoPromotionEnabled") is not False or seconds <= 0:
        return None
    return float(seconds)


_RUN_STATUSES = (
    ("canary", "currentStepAnalysisRunStatus", "analysis run"),
    ("canary", "currentBackgroundAnalysisRunStatus", "background analysis run"),
    ("blueGreen", "prePromotionAnalysisRunStatus", "pre-promotion analysis run"),
    ("blueGreen", "postPromotionAnalysisRunStatus", "post-promotion analysis run"),
)


def waiting_for(rollout: dict[str, Any], now: datetime) -> list[str]:
    """What has to happen before the rollout moves on; empty when it waits on nothing."""
    name = _name(rollout)
    status = rollout.get("status") or {}
    phase, message = effective_phase(rollout)
    promote = f"promote (`rollouts promote {name}`)"
    if status.get("abort"):
        return [f"aborted ({message or 'RolloutAborted'}): start over with "
                f"`rollouts retry rollout {name}`"]
    if phase == "Degraded":
        return [message or "Degraded"]
    items: list[str] = []
    if _get(rollout, "spec", "paused"):
        items.append(f"resume with `rollouts promote {name}` (paused by hand)")
    steps = _steps(rollout)
    index = _step_index(rollout)
    step = steps[index] if index < len(steps) else {}
    for condition in status.get("pauseConditions") or []:
        reason = str(condition.get("reason") or "")
        seconds = (_pause_seconds(step) if reason == "CanaryPauseStep"
                   else _auto_promotion_seconds(rollout) if reason == "BlueGreenPause"
                   else None)
        started = _time(condition.get("startTime"))
        if seconds is not None and started is not None:
            left = max(0, round(started.timestamp() + seconds - now.timestamp()))
            items.append(f"auto-promotion in {left}s, or {promote}"
                         if reason == "BlueGreenPause" else f"pause ends in {left}s")
        elif reason == "InconclusiveAnalysisRun":
            items.append(f"inconclusive analysis: {promote} or `rollouts abort {name}`")
        else:
            items.append(promote)
    for section, key, what in _RUN_STATUSES:
        run = _get(status, section, key)
        if isinstance(run, dict) and run.get("status") not in ("Successful", None):
            items.append(f"{what} {run.get('name')} ({run.get('status')})")
    if not items and phase == "Progressing":
        if step.get("setWeight") is not None:
            items.append(f"canary pods for setWeight {step['setWeight']} to become available")
        elif message:
            items.append(message)
    return items


# --- the `get rollout` tree ------------------------------------------------------------

def _images(template: dict[str, Any]) -> list[str]:
    spec = template.get("spec") or {}
    return [str(c.get("image")) for field in ("initContainers", "containers")
            for c in spec.get(field) or [] if c.get("image")]


def replica_set_tags(rollout: dict[str, Any], rs: dict[str, Any]) -> list[str]:
    """Argo's tags of a ReplicaSet, by its pod template hash.

    Canary: `stable` (status.stableRS), else `canary` (status.currentPodHash).
    Blue-green: `stable` (status.stableRS), and `active` or `preview` for the hash the
    active or preview Service selects (status.blueGreen.activeSelector/previewSelector);
    the RS serving production before a promotion is `stable`, `active`.
    """
    status = rollout.get("status") or {}
    pod_hash = _hash(rs)
    if not pod_hash:
        return []
    tags = ["stable"] if pod_hash == status.get("stableRS") else []
    if _blue_green(rollout) is not None:
        blue_green = status.get("blueGreen") or {}
        if pod_hash == blue_green.get("activeSelector"):
            tags.append("active")
        elif pod_hash == blue_green.get("previewSelector"):
            tags.append("preview")
    elif not tags and pod_hash == status.get("currentPodHash"):
        tags.append("canary")
    return tags


def scale_down_delay(rs: dict[str, Any], now: datetime) -> str:
    """`delay:25s` for a ReplicaSet waiting out its scale-down delay (Argo's
    `scale-down-deadline` annotation), `delay:passed` once due, `""` without one."""
    deadline = _time(_get(rs, "metadata", "annotations", SCALE_DOWN_DEADLINE_ANNOTATION) or "")
    if deadline is None:
        return ""
    left = int((deadline - now).total_seconds())
    return "delay:passed" if left <= 0 else f"delay:{human_duration(left)}"


def _header(rollout: dict[str, Any], replica_sets: list[dict[str, Any]], now: datetime,
            ) -> list[str]:
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    phase, message = effective_phase(rollout)
    lines = [("Name:", _name(rollout)),
             ("Namespace:", str(_get(rollout, "metadata", "namespace") or "")),
             ("Status:", _icon(phase) + (f"   ({message})" if message else ""))]
    if _canary(rollout) is not None:
        lines.append(("Strategy:", strategy_name(rollout)))
        steps = _steps(rollout)
        if steps:
            lines.append(("  Step:", f"{min(_step_index(rollout), len(steps))}/{len(steps)}"))
        lines.append(("  SetWeight:", str(set_weight(rollout))))
        actual = actual_weight(rollout, replica_sets)
        lines.append(("  ActualWeight:", "-" if actual is None else str(actual)))
    elif _blue_green(rollout) is not None:
        lines.append(("Strategy:", strategy_name(rollout)))
    images: list[str] = []
    for rs in sorted(replica_sets, key=lambda r: "stable" not in replica_set_tags(rollout, r)):
        tags = replica_set_tags(rollout, rs)
        if tags:
            images += [f"{image} ({', '.join(tags)})"
                       for image in _images(_get(rs, "spec", "template") or {})]
    if not images:
        images = _images(spec.get("template") or {})
    lines += [("Images:" if i == 0 else "", image)
              for i, image in enumerate(dict.fromkeys(images))]
    lines.append(("Replicas:", f"Desired {_replicas(rollout)}  "
                  f"Current {_int(status.get('replicas'))}  "
                  f"Updated {_int(status.get('updatedReplicas'))}  "
                  f"Ready {_int(status.get('readyReplicas'))}  "
                  f"Available {_int(status.get('availableReplicas'))}"))
    waits = waiting_for(rollout, now)
    if waits:
        lines.append(("Waiting for:", "  |  ".join(waits)))
    return [f"{label:<{_LABEL_WIDTH}}{value}".rstrip() for label, value in lines]


def _rs_row(rollout: dict[str, Any], rs: dict[str, Any], now: datetime) -> tuple[str, str]:
    desired = _int(_get(rs, "spec", "replicas"))
    ready = _int(_get(rs, "status", "readyReplicas"))
    available = _int(_get(rs, "status", "availableReplicas"))
    if desired == 0 and _int(_get(rs, "status", "replicas")) == 0:
        phase = "ScaledDown"
    else:
        phase = "Healthy" if available >= desired else "Progressing"
    tags = ",".join(t for t in (*replica_set_tags(rollout, rs), scale_down_delay(rs, now)) if t)
    info = "  ".join(p for p in (tags, f"{ready}/{desired} ready") if p)
    return _icon(phase), info


def _pod_row(pod: dict[str, Any]) -> tuple[str, str]:
    statuses = _get(pod, "status", "containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    total = len(_get(pod, "spec", "containers") or []) or len(statuses)
    restarts = sum(_int(s.get("restartCount")) for s in statuses)
    phase = str(_get(pod, "status", "phase") or "Pending")
    waiting = next((str(s["state"]["waiting"].get("reason")) for s in statuses
                    if _get(s, "state", "waiting", "reason")), None)
    if _get(pod, "metadata", "deletionTimestamp"):
        shown = _icon("Terminating")
    elif phase == "Running":
        shown = f"{ICONS['Healthy' if ready == total else 'Running']} Running"
    elif phase == "Succeeded":
        shown = _icon("Completed")
    elif phase == "Failed":
        shown = _icon("Failed")
    else:
        shown = f"{ICONS['Pending']} {waiting or phase}"
    info = f"ready {ready}/{total}" + (f"  restarts {restarts}" if restarts else "")
    return shown, info


def _value(text: Any) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_VALUE else flat[: _MAX_VALUE - 1] + "…"


def _run_row(run: dict[str, Any]) -> tuple[str, str]:
    phase = str(_get(run, "status", "phase") or "Pending")
    results = [r for r in _get(run, "status", "metricResults") or [] if isinstance(r, dict)]
    counts = f"✔ {sum(_int(r.get('successful')) for r in results)} " \
             f"✖ {sum(_int(r.get('failed')) for r in results)}"
    errors = sum(_int(r.get("error")) for r in results)
    inconclusive = sum(_int(r.get("inconclusive")) for r in results)
    counts += f" ⚠ {errors}" if errors else ""
    counts += f" ? {inconclusive}" if inconclusive else ""
    last = [f"{r.get('name')}={_value(r['measurements'][-1].get('value', '-'))}"
            for r in results if r.get("measurements")]
    info = counts + (f"  (last: {', '.join(last)})" if last else "")
    return _icon(phase), info


def _revision(obj: dict[str, Any]) -> int:
    return _int(_get(obj, "metadata", "annotations", REVISION_ANNOTATION))


def render_tree(
    rollout: dict[str, Any], replica_sets: list[dict[str, Any]], pods: list[dict[str, Any]],
    runs: list[dict[str, Any]], now: datetime,
) -> str:
    """The `get rollout` view: header, blank line, then the object tree as a table."""
    rows: list[tuple[str, str, str, str, str]] = []
    phase, _ = effective_phase(rollout)
    rows.append((f"{KIND_ICONS['Rollout']} {_name(rollout)}", "Rollout", _icon(phase),
                 age(_get(rollout, "metadata", "creationTimestamp"), now), ""))
    revision_of_hash = {_hash(rs): _revision(rs) for rs in replica_sets}
    revisions: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for rs in replica_sets:
        revisions.setdefault(_revision(rs), []).append(("ReplicaSet", rs))
    for run in runs:
        revision = revision_of_hash.get(str(_get(run, "metadata", "labels", HASH_LABEL)),
                                        _revision(run))
        revisions.setdefault(revision, []).append(("AnalysisRun", run))
    groups = sorted(revisions.items(), reverse=True)
    for group_index, (revision, members) in enumerate(groups):
        last_group = group_index == len(groups) - 1
        branch = "└──" if last_group else "├──"
        rows.append((f"{branch}{KIND_ICONS['Revision']} revision:{revision}", "", "", "", ""))
        indent = "   " if last_group else "│  "
        members.sort(key=lambda m: (m[0] != "ReplicaSet",
                                    str(_get(m[1], "metadata", "creationTimestamp") or ""),
                                    _name(m[1])))
        for member_index, (kind, obj) in enumerate(members):
            last_member = member_index == len(members) - 1
            twig = indent + ("└──" if last_member else "├──")
            shown, info = (_rs_row(rollout, obj, now) if kind == "ReplicaSet"
                           else _run_row(obj))
            created = age(_get(obj, "metadata", "creationTimestamp"), now)
            rows.append((f"{twig}{KIND_ICONS[kind]} {_name(obj)}", kind, shown, created, info))
            if kind != "ReplicaSet":
                continue
            mine = sorted((p for p in pods if _hash(p) == _hash(obj)), key=_name)
            for pod_index, pod in enumerate(mine):
                leaf = indent + ("   " if last_member else "│  ") + (
                    "└──" if pod_index == len(mine) - 1 else "├──")
                pod_shown, pod_info = _pod_row(pod)
                rows.append((f"{leaf}{KIND_ICONS['Pod']} {_name(pod)}", "Pod", pod_shown,
                             age(_get(pod, "metadata", "creationTimestamp"), now), pod_info))
    header = _header(rollout, replica_sets, now)
    table = _table([("NAME", "KIND", "STATUS", "AGE", "INFO"), *rows])
    return "\n".join([*header, "", *table])


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


# --- the `list rollouts` table ---------------------------------------------------------

def render_list(rollouts: list[dict[str, Any]], *, all_namespaces: bool, wide: bool,
                now: datetime) -> str:
    """NAME STRATEGY STATUS STEP SET-WEIGHT READY DESIRED UP-TO-DATE AVAILABLE
    (NAMESPACE first with -A; AGE, IMAGES and MESSAGE last with -o wide)."""
    head = ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED",
            "UP-TO-DATE", "AVAILABLE"]
    if wide:
        head += ["AGE", "IMAGES", "MESSAGE"]
    if all_namespaces:
        head.insert(0, "NAMESPACE")
    rows: list[tuple[str, ...]] = [tuple(head)]
    for rollout in sorted(rollouts, key=lambda r: (str(_get(r, "metadata", "namespace")),
                                                   _name(r))):
        status = rollout.get("status") or {}
        phase, message = effective_phase(rollout)
        steps = _steps(rollout)
        weight = set_weight(rollout)
        cells = [_name(rollout), strategy_name(rollout) or "-", phase,
                 f"{min(_step_index(rollout), len(steps))}/{len(steps)}" if steps else "-",
                 "-" if weight is None else str(weight),
                 f"{_int(status.get('readyReplicas'))}/{_int(status.get('replicas'))}",
                 str(_replicas(rollout)),
                 str(_int(status.get("updatedReplicas"))),
                 str(_int(status.get("availableReplicas")))]
        if wide:
            cells += [age(_get(rollout, "metadata", "creationTimestamp"), now),
                      ",".join(_images(_get(rollout, "spec", "template") or {})) or "-",
                      message or "-"]
        if all_namespaces:
            cells.insert(0, str(_get(rollout, "metadata", "namespace") or ""))
        rows.append(tuple(cells))
    return "\n".join(_table(rows))
