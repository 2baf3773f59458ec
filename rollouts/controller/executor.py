"""Carries out a Rollout `Plan` (either strategy) against the API server: the thin,
impure half.

Order matters: the canary ReplicaSet exists before anything points at it (the
arithmetic keeps each pass's scaling within the surge and availability budgets), runs
and services follow, and last the single status write (with the object's
resourceVersion as a precondition, so a stale view never overwrites a newer one).
The Events are sent alongside the object writes by a small pool of threads (a
"Created X" one once X's create has answered) and all are answered before the status
write, so a pass does not wait for them one after another. Each Event is named after
the state it was planned from and what it says (`event_key`), so a pass planned again
from the same state, by this process or by the next leader after a crash, never
records it twice, and a crash between the Events and the status write loses none; a
"Created X" Event whose X already existed is dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

from rollouts.controller.traffic_io import write_router_objects
from rollouts.core import HASH_LABEL, MANAGED_BY_ANNOTATION, MetadataChange, Plan
from rollouts.core.observed import EPHEMERAL_ANNOTATION
from rollouts.core.work import Event
from rollouts.kube import (
    ANALYSIS_RUN,
    DEPLOYMENT,
    EXPERIMENT,
    POD,
    REPLICA_SET,
    ROLLOUT,
    SERVICE,
    AlreadyExists,
    KubeClient,
    NotFound,
)
from rollouts.merge_patch import merge_patch
from rollouts.runtime import log_fields

log = logging.getLogger(__name__)

EventHook = Callable[[dict[str, Any], str, str], None]
"""`on_event(rollout, type, reason)`, called after each Event emitted (metrics count them)."""
ScaledHook = Callable[[dict[str, Any]], None]
"""`on_scaled(replica_set)`, called with each ReplicaSet as a scale patch returned it."""


def execute(client: KubeClient, raw: dict[str, Any], plan: Plan, *,
            on_event: EventHook | None = None,
            on_scaled: ScaledHook | None = None) -> dict[str, Any] | None:
    """Apply `plan` for the Rollout `raw`; returns the Rollout as written, if status changed."""
    meta = raw["metadata"]
    namespace, name = meta.get("namespace"), meta["name"]
    context = log_fields(kind="Rollout", namespace=namespace, name=name)
    existed: set[str] = set()  # objects this pass meant to create that were there already
    # Events are sent alongside the object writes (each is one request the pass would
    # otherwise wait for in turn) and all are answered before the status write. A
    # "Created X" Event waits until the create of X has said whether X existed.
    sending = _Sending(client, raw, plan, on_event)
    for event in plan.events:
        if event.created is None:
            sending.send(event)
    if plan.create_replica_set is not None:
        try:
            client.create(REPLICA_SET, namespace, plan.create_replica_set)
        except AlreadyExists:
            existed.add(str(plan.create_replica_set["metadata"]["name"]))
            log.info("ReplicaSet %s already exists",
                     plan.create_replica_set["metadata"]["name"], extra=context)
    _send_created(sending, plan, existed, {str(plan.create_replica_set["metadata"]["name"])}
                  if plan.create_replica_set is not None else set())
    for rs_name, replicas in plan.scale.items():
        try:
            scaled = client.patch(REPLICA_SET, namespace, rs_name,
                                  {"spec": {"replicas": replicas}})
            if on_scaled is not None:
                on_scaled(scaled)
        except NotFound:
            log.info("ReplicaSet %s is gone; not scaling it", rs_name, extra=context)
    for rs_name, changes in plan.annotate_replica_sets.items():
        with contextlib.suppress(NotFound):
            client.patch(REPLICA_SET, namespace, rs_name, {"metadata": {"annotations": changes}})
    for rs_name, change in plan.metadata_changes.items():
        _move_metadata(client, namespace, rs_name, change)
    for manifest in plan.create_analysis_runs:
        try:
            client.create(ANALYSIS_RUN, namespace, manifest)
        except AlreadyExists:
            existed.add(str(manifest["metadata"]["name"]))
    _send_created(sending, plan, existed, {str(m["metadata"]["name"])
                                           for m in plan.create_analysis_runs})
    for run in plan.terminate_analysis_runs:
        with contextlib.suppress(NotFound):
            client.patch(ANALYSIS_RUN, namespace, run, {"spec": {"terminate": True}})
    for run in plan.delete_analysis_runs:
        client.delete(ANALYSIS_RUN, namespace, run)
    for run in plan.collect_analysis_runs:
        with contextlib.suppress(NotFound):  # gone already: what collecting wanted
            client.delete(ANALYSIS_RUN, namespace, run)
    for manifest in plan.create_experiments:
        try:
            client.create(EXPERIMENT, namespace, manifest)
        except AlreadyExists:
            existed.add(str(manifest["metadata"]["name"]))
    _send_created(sending, plan, existed, {str(m["metadata"]["name"])
                                           for m in plan.create_experiments})
    for experiment in plan.terminate_experiments:
        with contextlib.suppress(NotFound):
            client.patch(EXPERIMENT, namespace, experiment, {"spec": {"terminate": True}})
    for service, pod_hash in plan.service_selectors.items():
        client.patch(SERVICE, namespace, service, {
            "metadata": {"annotations": {MANAGED_BY_ANNOTATION: name}},
            "spec": {"selector": {HASH_LABEL: pod_hash}}})
    # After the Services: a weight never moves onto a Service not yet pinned.
    write_router_objects(client, raw, plan.router_writes)
    for rs_name in plan.delete_replica_sets:
        client.delete(REPLICA_SET, namespace, rs_name)
    for pod in plan.delete_pods:
        client.delete(POD, namespace, pod)
    workload = ((raw.get("spec") or {}).get("workloadRef") or {}).get("name")
    if plan.scale_workload is not None and workload:
        client.patch(DEPLOYMENT, namespace, str(workload),
                     {"spec": {"replicas": plan.scale_workload}})

    # The Events before the status write, each named after the Rollout state it was
    # planned from: if this process dies between the two, the next leader plans the same
    # pass from the same state and the API server refuses the repeat, so every Event is
    # recorded once (after the write, a death in between would lose them). A "Created X"
    # Event is dropped when X already existed: an earlier pass made and announced it.
    _send_created(sending, plan, existed, {e.created for e in plan.events
                                           if e.created is not None})
    sending.wait()
    written: dict[str, Any] | None = None
    diff = merge_patch(raw.get("status") or {}, plan.status)
    if diff:
        body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": diff}
        written = client.patch_status(ROLLOUT, namespace, name, body)
    return written


_SENDERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rollout-events")
"""Threads sending the Events of passes in flight (a pass waits for its own)."""


class _Sending:
    """The Events of one pass being sent; `wait` returns once all are answered and calls
    `on_event` for each recorded, in the plan's order, on the caller's thread."""

    def __init__(self, client: KubeClient, raw: dict[str, Any], plan: Plan,
                 on_event: EventHook | None) -> None:
        self._client, self._raw, self._on_event = client, raw, on_event
        self._events = plan.events
        self._sent: dict[int, Future[bool]] = {}  # id() of a plan's Event -> its sending

    def started(self, event: Event) -> bool:
        return id(event) in self._sent

    def send(self, event: Event) -> None:
        key = event_key(self._raw["metadata"].get("resourceVersion"), event)
        self._sent[id(event)] = _SENDERS.submit(
            self._client.emit_event, self._raw, _type(event), event.reason, event.message,
            key=key)

    def wait(self) -> None:
        for event in self._events:
            future = self._sent.get(id(event))
            # emit_event logs a failure and returns False; it never raises.
            if future is not None and future.result() and self._on_event is not None:
                self._on_event(self._raw, _type(event), event.reason)


def _type(event: Event) -> Literal["Normal", "Warning"]:
    return "Warning" if event.type == "Warning" else "Normal"


def _send_created(sending: _Sending, plan: Plan, existed: set[str], names: set[str]) -> None:
    """Send the "Created X" Events of `names` (now that their creates have answered), but
    not those whose X already existed."""
    for event in plan.events:
        if (event.created in names and event.created not in existed
                and not sending.started(event)):
            sending.send(event)


def event_key(resource_version: object, event: Event) -> str:
    """The name suffix of an Event planned from the Rollout at `resource_version`: the
    version (zero-padded hex, so one Rollout's Events sort in the order of the states they
    came from) and a digest of what the Event says (several Events of one pass differ)."""
    digest = hashlib.sha256(f"{event.type}/{event.reason}/{event.message}".encode()).hexdigest()
    version = str(resource_version or "")
    if version.isdigit() and len(version) <= 16:
        return f"{int(version):016x}{digest[:16]}"
    return digest[:32]  # an opaque version: still one name per happening, unordered


def _move_metadata(client: KubeClient, namespace: str | None, rs_name: str,
                   change: MetadataChange) -> None:
    """Ephemeral labels/annotations onto a ReplicaSet's template, then its running pods."""
    pod_meta: dict[str, Any] = {}
    if change.labels:
        pod_meta["labels"] = change.labels
    if change.annotations:
        pod_meta["annotations"] = change.annotations
    body: dict[str, Any] = {
        "metadata": {"annotations": {EPHEMERAL_ANNOTATION: change.record}},
        "spec": {"template": {"metadata": pod_meta}}}
    try:
        client.patch(REPLICA_SET, namespace, rs_name, body)
    except NotFound:
        return
    if not pod_meta or not change.pods:
        return
    pods = client.list(POD, namespace, label_selector=change.pod_selector).items
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        with contextlib.suppress(NotFound):
            client.patch(POD, namespace, str(pod["metadata"]["name"]), {"metadata": pod_meta})
