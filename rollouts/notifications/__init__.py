"""Notifications for Applications and Rollouts: Argo CD's and Argo Rollouts' format.

Its own controller (`rollouts controller --controllers notifications`), watching
Applications, Rollouts and their Events; no other controller calls it (DESIGN section
11). The pure parts, each its own module:

- `config`: the ConfigMap/Secret pairs (`argocd-notifications-cm`,
  `argo-rollouts-notification-configmap`) parsed into a `NotificationConfig`, one problem
  line per bad key; `services` (webhook, slack), `templates`, `subscriptions`,
  `yamltext` parse the parts; `catalog` holds Argo Rollouts' built-in triggers;
- `triggers`: `when` / `oncePer` conditions, by the analysis package's safe evaluator;
- `state`: what was sent, in the object's `notified.notifications.argoproj.io`
  annotation (and our retry record beside it);
- `retry`: when a failed delivery is tried again, and when it is given up;
- `plan`: one pass over one object: what is due, and what is recorded after sending.

The impure edges: `delivery` (HTTP through the analysis providers' bounded transport),
`controller` (informers, work queue, annotation patches, Warning Events), `metrics`.
"""

from rollouts.notifications.config import (
    APPLICATION_CONFIG,
    ROLLOUT_CONFIG,
    NotificationConfig,
    parse_config,
)
from rollouts.notifications.plan import Plan, plan_application, plan_rollout, settle
from rollouts.notifications.retry import RetryPolicy, after_attempt
from rollouts.notifications.state import NOTIFIED_ANNOTATION, RETRIES_ANNOTATION
from rollouts.notifications.subscriptions import Destination, destinations
from rollouts.notifications.triggers import run_trigger, trigger_for_reason

__all__ = [
    "APPLICATION_CONFIG",
    "NOTIFIED_ANNOTATION",
    "RETRIES_ANNOTATION",
    "ROLLOUT_CONFIG",
    "Destination",
    "NotificationConfig",
    "Plan",
    "RetryPolicy",
    "after_attempt",
    "destinations",
    "parse_config",
    "plan_application",
    "plan_rollout",
    "run_trigger",
    "settle",
    "trigger_for_reason",
]
