"""`rollouts.kube`: the one place that talks to the Kubernetes API server.

- `Kind` and the kind constants (`ROLLOUT`, `REPLICA_SET`, ...): what to address.
- `request_for`: the pure builder of every request (path, query, body, content type).
- `KubeClient`: get / list / watch / create / replace / apply / patch / patch_status /
  delete / emit_event on plain `dict` objects, with timeouts and request counting.
- `KubeError` and its subclasses: failures, each saying whether a retry may help.
- `Informer`: list + watch cache with handlers and an owner index.
- `LeaderElector`: Lease-based leader election.

No other package imports the `kubernetes` client (import-linter checks it).
"""

from rollouts.kube.client import DEFAULT_TIMEOUT, KubeClient, ListResult
from rollouts.kube.errors import (
    AlreadyExists,
    Conflict,
    FieldCause,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    NotLeader,
    Unauthorized,
    Unavailable,
    error_from_response,
)
from rollouts.kube.events import event_for
from rollouts.kube.informer import ChangeType, Handler, Informer, backoff_delay, diff_snapshot
from rollouts.kube.kinds import (
    ANALYSIS_RUN,
    ANALYSIS_TEMPLATE,
    APP_PROJECT,
    APPLICATION,
    CLUSTER_ANALYSIS_TEMPLATE,
    CONFIG_MAP,
    CUSTOM_RESOURCE_DEFINITION,
    DAEMON_SET,
    DEPLOYMENT,
    EVENT,
    EXPERIMENT,
    INGRESS,
    JOB,
    KNOWN_KINDS,
    LEASE,
    NAMESPACE,
    PERSISTENT_VOLUME_CLAIM,
    POD,
    REPLICA_SET,
    ROLLOUT,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    STATEFUL_SET,
    Kind,
    kind_for,
)
from rollouts.kube.leader import LeaderElector, should_acquire
from rollouts.kube.request import PatchType, Request, Verb, request_for
from rollouts.kube.stream import WatchStream
from rollouts.kube.watch import EventType, WatchEvent, parse_watch_line, split_lines

__all__ = [
    "ANALYSIS_RUN",
    "ANALYSIS_TEMPLATE",
    "APPLICATION",
    "APP_PROJECT",
    "CLUSTER_ANALYSIS_TEMPLATE",
    "CONFIG_MAP",
    "CUSTOM_RESOURCE_DEFINITION",
    "DAEMON_SET",
    "DEFAULT_TIMEOUT",
    "DEPLOYMENT",
    "EVENT",
    "EXPERIMENT",
    "INGRESS",
    "JOB",
    "KNOWN_KINDS",
    "LEASE",
    "NAMESPACE",
    "PERSISTENT_VOLUME_CLAIM",
    "POD",
    "REPLICA_SET",
    "ROLLOUT",
    "SECRET",
    "SERVICE",
    "SERVICE_ACCOUNT",
    "STATEFUL_SET",
    "AlreadyExists",
    "ChangeType",
    "Conflict",
    "EventType",
    "FieldCause",
    "Forbidden",
    "Gone",
    "Handler",
    "Informer",
    "Invalid",
    "Kind",
    "KubeClient",
    "KubeError",
    "LeaderElector",
    "ListResult",
    "NotFound",
    "NotLeader",
    "PatchType",
    "Request",
    "Unauthorized",
    "Unavailable",
    "Verb",
    "WatchEvent",
    "WatchStream",
    "backoff_delay",
    "diff_snapshot",
    "error_from_response",
    "event_for",
    "kind_for",
    "parse_watch_line",
    "request_for",
    "should_acquire",
    "split_lines",
]
