"""Argo Rollouts' built-in triggers and their templates (pure data).

Argo Rollouts ships these in `notifications-install.yaml`; we carry them built in, under
the user's `argo-rollouts-notification-configmap`: a key of the same name there replaces
ours. Each trigger fires on the Kubernetes Event of the same name (`trigger_for_reason`),
with no `when`: the Event is the condition.

| trigger | Event reason | ours emitted by |
| --- | --- | --- |
| on-rollout-completed | RolloutCompleted | the Rollout controller |
| on-rollout-step-completed | RolloutStepCompleted | the Rollout controller |
| on-rollout-updated | RolloutUpdated | the Rollout controller |
| on-scaling-replica-set | ScalingReplicaSet | the Rollout controller |
| on-rollout-paused | RolloutPaused | the Rollout controller |
| on-rollout-aborted | RolloutAborted | the Rollout controller |
| on-analysis-run-failed | AnalysisRunFailed | the analysis controller, on the run |
| on-analysis-run-error | AnalysisRunError | the analysis controller, on the run |
| on-analysis-run-running | AnalysisRunRunning | nobody yet: never fires |

Argo's Rollout controller records `AnalysisRun<Phase>` Events on the Rollout; ours
records them on the AnalysisRun (when it completes), so the controller reads a run's
Events as its owning Rollout's. No `AnalysisRunRunning` Event exists in this project.

The wording of the templates is ours; their shape (a message and a Slack attachment with
the strategy and the images) follows Argo's.
"""

from __future__ import annotations

__all__ = ["BUILTIN_ROLLOUT_DATA", "BUILTIN_ROLLOUT_TRIGGERS"]

_ATTACHMENT = """\
[{
  "title": "{{.rollout.metadata.name}}",
  "color": "%(color)s",
  "fields": [
    {"title": "Strategy", "value": "{{if .rollout.spec.strategy.blueGreen}}BlueGreen{{end}}\
{{if .rollout.spec.strategy.canary}}Canary{{end}}", "short": true}
    {{range $c := .rollout.spec.template.spec.containers}},
    {"title": "{{$c.name}}", "value": "{{$c.image}}", "short": true}
    {{end}}
  ]
}]"""

_GOOD, _BAD = "#18be52", "#E01E5A"

_TEMPLATES = {
    "rollout-completed": ("Rollout {{.rollout.metadata.name}} completed.", _GOOD),
    "rollout-step-completed": (
        "Rollout {{.rollout.metadata.name}} completed a step; now at step "
        "{{.rollout.status.currentStepIndex}} of "
        "{{len .rollout.spec.strategy.canary.steps}}.", _GOOD),
    "rollout-updated": ("Rollout {{.rollout.metadata.name}} was updated to a new "
                        "pod template.", _GOOD),
    "scaling-replicaset": ("Rollout {{.rollout.metadata.name}} is scaling a ReplicaSet "
                           "({{.rollout.spec.replicas}} replicas desired).", _GOOD),
    "rollout-paused": ("Rollout {{.rollout.metadata.name}} paused.", _GOOD),
    "rollout-aborted": ("Rollout {{.rollout.metadata.name}} was aborted: "
                        "{{.rollout.status.message}}", _BAD),
    "analysis-run-running": ("An analysis run of Rollout {{.rollout.metadata.name}} "
                             "is running.", _GOOD),
    "analysis-run-failed": ("An analysis run of Rollout {{.rollout.metadata.name}} "
                            "failed.", _BAD),
    "analysis-run-error": ("An analysis run of Rollout {{.rollout.metadata.name}} "
                           "ended in error.", _BAD),
}

BUILTIN_ROLLOUT_TRIGGERS = {
    "on-rollout-completed": "rollout-completed",
    "on-rollout-step-completed": "rollout-step-completed",
    "on-rollout-updated": "rollout-updated",
    "on-scaling-replica-set": "scaling-replicaset",
    "on-rollout-paused": "rollout-paused",
    "on-rollout-aborted": "rollout-aborted",
    "on-analysis-run-running": "analysis-run-running",
    "on-analysis-run-failed": "analysis-run-failed",
    "on-analysis-run-error": "analysis-run-error",
}
"""Trigger -> the template it sends (Argo's names)."""


def _template(message: str, color: str) -> str:
    attachment = _ATTACHMENT % {"color": color}
    indented = "\n".join("      " + line for line in attachment.splitlines())
    return f"message: '{message}'\nslack:\n  attachments: |\n{indented}\n"


BUILTIN_ROLLOUT_DATA: dict[str, str] = {
    **{f"template.{name}": _template(message.replace("'", "''"), color)
       for name, (message, color) in _TEMPLATES.items()},
    **{f"trigger.{trigger}": f"- send: [{template}]\n"
       for trigger, template in BUILTIN_ROLLOUT_TRIGGERS.items()},
}
"""ConfigMap data of the built-ins: the user's keys are laid over it."""
