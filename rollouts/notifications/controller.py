"""The notification controller (`--controllers notifications`): watches, sends, records.

It watches Applications and Rollouts, the Kubernetes Events about Rollouts and
AnalysisRuns, and the two ConfigMap/Secret pairs of `config` in the control namespace.
No other controller calls it: it learns everything from API objects (DESIGN section 11).

A reconcile of one object (key `Application:<ns>/<name>` or `Rollout:<ns>/<name>`):

1. reads the object from the cache (waiting for the echo of our own last write);
2. plans (`plan.plan_application` / `plan.plan_rollout`, pure) with the parsed settings;
3. renders and sends each due notification (`templates`, `delivery`), unless this
   process has lost its lease;
4. records the outcomes (`plan.settle`) in the object's annotations with one merge patch
   (`state`), and sets a timer for the next retry, if any.

Sent first, recorded second: a crash between 3 and 4 repeats those notifications after a
restart, and loses none (at-least-once). The other order would lose a notification to a
crash at the same spot, and a lost "canary aborted" costs more than a repeated one; it is
also what Argo's controller does. If the patch itself fails, the recorded state is kept
in memory and written first on the next pass, so an API hiccup repeats nothing.

Messages that reach the log or a Warning Event pass through the Secret's redactor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from analysis.providers.egress import EgressPolicy
from rollouts.api.sharding import instance_selector
from rollouts.kube import (
    ANALYSIS_RUN,
    APPLICATION,
    CONFIG_MAP,
    EVENT,
    ROLLOUT,
    SECRET,
    Informer,
    KubeClient,
    NotFound,
)
from rollouts.kube.kinds import Kind
from rollouts.kube.shared import SharedInformers
from rollouts.notifications.catalog import BUILTIN_ROLLOUT_DATA
from rollouts.notifications.config import (
    APPLICATION_CONFIG,
    ROLLOUT_CONFIG,
    ConfigNames,
    NotificationConfig,
    decode_secret,
    parse_config,
    redactor,
)
from rollouts.notifications.delivery import send
from rollouts.notifications.metrics import NotificationMetrics
from rollouts.notifications.plan import (
    DEFAULT_EVENT_MAX_AGE,
    Delivery,
    EventView,
    Outcome,
    Plan,
    plan_application,
    plan_rollout,
    settle,
)
from rollouts.notifications.state import (
    NOTIFIED_ANNOTATION,
    RETRIES_ANNOTATION,
    annotation_patch,
)
from rollouts.notifications.subscriptions import SUBSCRIBE_PREFIX
from rollouts.notifications.templates import Renderer, go_renderer, render_notification
from rollouts.notifications.triggers import APPLICATION_NAMES, ROLLOUT_NAMES
from rollouts.runtime import Clock, ReconcileResult, SystemClock, Timers, WorkQueue
from rollouts.runtime.written import CATCH_UP_FALLBACK, WrittenVersions, resource_version

__all__ = ["NotificationController"]

log = logging.getLogger(__name__)

EVENT_SETTLE_SECONDS = 2.0
"""The Rollout controller records a pass's Events just before its status write (and again
after a conflict), naming the Rollout's resourceVersion it planned from: a notification
of a Rollout Event is sent once the cached Rollout has a later version (that status
write, usually within milliseconds), so its template shows the Rollout as the Event left
it (`.rollout.status.message` says why it aborted). Without that (a pass that wrote
nothing, an AnalysisRun's Event) it waits this long after the Event's time: Event times
are whole seconds, cut down, so 1-2 s after the Event in all."""

_KINDS: dict[str, tuple[Kind, ConfigNames]] = {
    "Application": (APPLICATION, APPLICATION_CONFIG),
    "Rollout": (ROLLOUT, ROLLOUT_CONFIG),
}


def _key(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind}:{namespace or ''}/{name}"


def _split(key: str) -> tuple[str, str, str]:
    kind, _, rest = key.partition(":")
    namespace, _, name = rest.partition("/")
    return kind, namespace, name


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    for value in (event.get("lastTimestamp"), event.get("eventTime"),
                  event.get("firstTimestamp"),
                  (event.get("metadata") or {}).get("creationTimestamp")):
        found = _time(value)
        if found is not None:
            return found
    return None


class NotificationController:
    """Reconciles notifications for Applications and Rollouts."""

    def __init__(
        self, client: KubeClient, *, namespace: str | None = None,
        control_namespace: str | None = None, egress: EgressPolicy | None = None,
        clock: Clock | None = None, instance_id: str = "",
        informers: SharedInformers | None = None, render: Renderer | None = None,
        event_max_age: float = DEFAULT_EVENT_MAX_AGE,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.egress = egress or EgressPolicy.from_networks(None)
        self.control_namespace = control_namespace or namespace or "rollouts"
        self.event_max_age = event_max_age
        self.metrics = NotificationMetrics()
        self._render = render
        shared = informers or SharedInformers(client)
        mine = instance_selector(instance_id)  # the Rollout controller's caches, shared
        self.apps = shared.informer(APPLICATION, namespace)
        self.rollouts = shared.informer(ROLLOUT, namespace, mine)
        self.runs = shared.informer(ANALYSIS_RUN, namespace, mine)
        self.rollout_events = shared.informer(
            EVENT, namespace, field_selector="involvedObject.kind=Rollout")
        self.run_events = shared.informer(
            EVENT, namespace, field_selector="involvedObject.kind=AnalysisRun")
        self._settings: dict[str, tuple[Informer, Informer]] = {
            kind: (shared.informer(CONFIG_MAP, self.control_namespace,
                                   field_selector=f"metadata.name={names.config_map}"),
                   shared.informer(SECRET, self.control_namespace,
                                   field_selector=f"metadata.name={names.secret}"))
            for kind, (_, names) in _KINDS.items()}
        self._parsed: dict[str, tuple[tuple[str, str], NotificationConfig]] = {}
        self._unsaved: dict[str, dict[str, str | None]] = {}
        self._reported: dict[str, frozenset[str]] = {}
        self._written = WrittenVersions()
        # key -> resourceVersion of our last annotation write: a Rollout at that version
        # has not had its status written since (see EVENT_SETTLE_SECONDS)
        self._our_versions: dict[str, int] = {}
        self._queue: WorkQueue | None = None
        self._timers: Timers | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "notifications"

    def informers(self) -> Sequence[Informer]:
        settings = [informer for pair in self._settings.values() for informer in pair]
        return (self.apps, self.rollouts, self.runs, self.rollout_events, self.run_events,
                *settings)

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self._queue, self._timers = queue, timers
        self.apps.add_handler(self._on_object("Application"))
        self.rollouts.add_handler(self._on_object("Rollout"))
        self.rollout_events.add_handler(lambda t, event, _old: self._on_rollout_event(t, event))
        self.run_events.add_handler(lambda t, event, _old: self._on_run_event(t, event))
        for kind, pair in self._settings.items():
            for informer in pair:
                informer.add_handler(self._settings_changed(kind))

    # -- event mapping ------------------------------------------------------------------

    def _on_object(self, kind: str) -> Callable[[str, dict[str, Any], Any], None]:
        def handle(change: str, obj: dict[str, Any], _old: Any) -> None:
            meta = obj.get("metadata") or {}
            key = _key(kind, meta.get("namespace"), str(meta.get("name")))
            if change == "DELETED":
                self._forget(key)
            elif self._queue is not None:
                self._queue.add(key)
        return handle

    def _on_rollout_event(self, change: str, event: dict[str, Any]) -> None:
        involved = event.get("involvedObject") or {}
        if change != "DELETED" and self._queue is not None and involved.get("name"):
            self._queue.add(_key("Rollout", involved.get("namespace"), involved["name"]))

    def _on_run_event(self, change: str, event: dict[str, Any]) -> None:
        involved = event.get("involvedObject") or {}
        owner = self._run_owner(involved.get("namespace"), str(involved.get("name")))
        if change != "DELETED" and owner is not None and self._queue is not None:
            self._queue.add(_key("Rollout", involved.get("namespace"), owner[0]))

    def _run_owner(self, namespace: str | None, name: str) -> tuple[str, str] | None:
        """The (name, uid) of the Rollout that controls the AnalysisRun, if any."""
        run = self.runs.get(namespace, name)
        for ref in ((run or {}).get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == "Rollout" and ref.get("controller"):
                return str(ref.get("name")), str(ref.get("uid"))
        return None

    def _settings_changed(self, kind: str) -> Callable[[str, dict[str, Any], Any], None]:
        return lambda _change, _obj, _old: self._on_settings(kind)

    def _on_settings(self, kind: str) -> None:
        with self._lock:
            self._parsed.pop(kind, None)
        if self._queue is None:
            return
        informer = self.apps if kind == "Application" else self.rollouts
        for obj in informer.list():
            meta = obj.get("metadata") or {}
            self._queue.add(_key(kind, meta.get("namespace"), str(meta.get("name"))))

    def _forget(self, key: str) -> None:
        self._written.forget(key)
        self._our_versions.pop(key, None)
        self._unsaved.pop(key, None)
        self._reported.pop(key, None)
        if self._timers is not None:
            self._timers.cancel(key)

    # -- settings -----------------------------------------------------------------------

    def config(self, kind: str) -> NotificationConfig:
        """The parsed settings for `kind`, parsed again only when either object changed."""
        config_maps, secrets = self._settings[kind]
        names = _KINDS[kind][1]
        config_map = config_maps.get(self.control_namespace, names.config_map)
        secret = secrets.get(self.control_namespace, names.secret)
        marker = (str((config_map or {}).get("metadata", {}).get("resourceVersion")),
                  str((secret or {}).get("metadata", {}).get("resourceVersion")))
        with self._lock:
            cached = self._parsed.get(kind)
            if cached is not None and cached[0] == marker:
                return cached[1]
        data = dict(BUILTIN_ROLLOUT_DATA) if kind == "Rollout" else {}
        data.update({str(k): str(v) for k, v in ((config_map or {}).get("data") or {}).items()})
        parsed = parse_config(data, decode_secret(secret), names=names,
                              variables=APPLICATION_NAMES if kind == "Application"
                              else ROLLOUT_NAMES)
        redact = redactor(parsed.secrets)
        for problem in parsed.problems:
            log.warning("notifications: %s", redact(problem))
        for note in parsed.notes:
            log.info("notifications: %s", redact(note))
        with self._lock:
            self._parsed[kind] = (marker, parsed)
        return parsed

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str, /) -> ReconcileResult:
        kind, namespace, name = _split(key)
        if kind not in _KINDS:
            return ReconcileResult()
        informer = self.apps if kind == "Application" else self.rollouts
        obj = informer.get(namespace or None, name)
        if obj is None:
            self._forget(key)
            return ReconcileResult()
        if self._written.cache_is_behind(key, obj):
            return ReconcileResult(requeue_after=CATCH_UP_FALLBACK)
        unsaved = self._unsaved.pop(key, None)
        if unsaved:  # the last pass sent but could not record: record first, send nothing
            self._write(kind, key, obj, unsaved)
            return ReconcileResult(requeue_after=0.2)
        config = self.config(kind)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not config.subscriptions and not any(
                k.startswith(SUBSCRIBE_PREFIX) or k in (NOTIFIED_ANNOTATION, RETRIES_ANNOTATION)
                for k in annotations):
            return ReconcileResult()  # nobody listens to this one: nothing to read or write
        now = self.clock.now()
        version = resource_version(obj)
        ours = self._our_versions.get(key) == version
        if kind == "Application":
            plan = plan_application(obj, config, now)
        else:
            plan = plan_rollout(obj, self._events_of(obj), config, now,
                                max_age=self.event_max_age, settle=EVENT_SETTLE_SECONDS,
                                others_wrote=0 if ours else version)
        self._report(key, plan, config)
        for trigger, triggered in plan.evaluations:
            self.metrics.evaluated(trigger, triggered)
        stamp = now.timestamp()
        waiting = [d.not_before for d in plan.deliveries if d.not_before > stamp]
        outcomes = [(delivery, self._deliver(kind, obj, config, delivery))
                    for delivery in plan.deliveries
                    if delivery.not_before <= stamp and self.client.may_write()]
        policies = {name_: service.retry for name_, service in config.services.items()}
        redact = redactor(config.secrets)
        for given_up in settle(plan, outcomes, policies, self.clock.now()):
            delivery = given_up.delivery
            self.metrics.gave_up(delivery.trigger, delivery.destination.service)
            message = redact(f"notification {delivery.trigger} to "
                             f"{delivery.destination.service} given up: {given_up.reason}")
            log.warning("%s %s/%s: %s", kind, namespace, name, message)
            self.client.emit_event(obj, "Warning", "NotificationFailed", message,
                                   component="rollouts-notifications")
        changes = annotation_patch(annotations, plan.notified, plan.retries, plan.live)
        if changes:
            self._write(kind, key, obj, changes)
        if plan.wake_at is not None and self._timers is not None:
            self._timers.at(key, datetime.fromtimestamp(plan.wake_at, UTC), "retry")
        if waiting and self._timers is not None:
            self._timers.at(key, datetime.fromtimestamp(min(waiting), UTC), "event")
        return ReconcileResult()

    def _write(self, kind: str, key: str, obj: dict[str, Any],
               changes: dict[str, str | None]) -> None:
        meta = obj.get("metadata") or {}
        try:
            written = self.client.patch(_KINDS[kind][0], meta.get("namespace"),
                                        str(meta.get("name")),
                                        {"metadata": {"annotations": changes}})
        except NotFound:
            self._forget(key)
            return
        except Exception:
            self._unsaved[key] = changes
            raise
        self._written.record(key, written)
        self._our_versions[key] = resource_version(written)

    def _events_of(self, rollout: dict[str, Any]) -> list[EventView]:
        meta = rollout.get("metadata") or {}
        namespace, name, uid = meta.get("namespace"), str(meta.get("name")), meta.get("uid")
        found: list[EventView] = []
        for event in self.rollout_events.list(namespace):
            involved = event.get("involvedObject") or {}
            if involved.get("name") != name or (involved.get("uid") and uid
                                                 and involved.get("uid") != uid):
                continue
            self._view(event, found)
        for event in self.run_events.list(namespace):
            involved = event.get("involvedObject") or {}
            owner = self._run_owner(namespace, str(involved.get("name")))
            if owner is not None and owner[0] == name and (not uid or owner[1] == uid):
                self._view(event, found)
        return found

    @staticmethod
    def _view(event: dict[str, Any], into: list[EventView]) -> None:
        at = _event_time(event)
        reason = event.get("reason")
        involved = event.get("involvedObject") or {}
        if at is not None and isinstance(reason, str) and reason:
            into.append(EventView(str((event.get("metadata") or {}).get("name")), reason, at,
                                  message=str(event.get("message") or ""),
                                  kind=str(involved.get("kind") or "Rollout"),
                                  uid=str(involved.get("uid") or ""),
                                  version=str(involved.get("resourceVersion") or "")))

    def _deliver(self, kind: str, obj: dict[str, Any], config: NotificationConfig,
                 delivery: Delivery) -> Outcome:
        redact = redactor(config.secrets)
        service = config.services[delivery.destination.service]
        templates = [config.templates[name] for name in delivery.templates
                     if name in config.templates]
        data: dict[str, Any] = (
            {"app": obj, "context": dict(config.context), "secrets": dict(config.secrets)}
            if kind == "Application" else {"rollout": obj})
        data.update(serviceType=delivery.destination.service,
                    recipient=delivery.destination.recipient)
        try:
            render = self._render or go_renderer()
            notification = render_notification(templates, data, render)
        except ValueError as problem:
            outcome = Outcome(False, False, str(problem))
        else:
            outcome = send(notification, service, delivery.destination, self.egress)
        self.metrics.delivered(delivery.trigger, delivery.destination.service,
                               outcome.delivered)
        meta = obj.get("metadata") or {}
        if outcome.delivered:
            log.info("%s %s/%s: notified %s via %s", kind, meta.get("namespace"),
                     meta.get("name"), delivery.trigger, delivery.destination.service)
        else:
            log.warning("%s %s/%s: notification %s via %s failed (attempt %d): %s", kind,
                        meta.get("namespace"), meta.get("name"), delivery.trigger,
                        delivery.destination.service, delivery.attempt + 1,
                        redact(outcome.reason))
        return Outcome(outcome.delivered, outcome.retryable, redact(outcome.reason))

    def _report(self, key: str, plan: Plan, config: NotificationConfig) -> None:
        """Log a pass's problems once (until they change), redacted."""
        problems = frozenset(plan.problems)
        if not problems or self._reported.get(key) == problems:
            return
        self._reported[key] = problems
        redact = redactor(config.secrets)
        for problem in sorted(problems):
            log.warning("%s: %s", key, redact(problem))
