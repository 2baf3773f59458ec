"""The AnalysisRun controller: measures runs on schedule and writes their status.

One reconcile of a run: resolve its arguments (Secrets read now, never stored),
substitute them into the metrics, ask the pure state machine (`decide.plan_run`) what
is due, take those measurements through the providers (the only slow part: a
Prometheus query, an HTTP call, a Job poll), fold each outcome in (`decide.record`),
write the status once, and set a timer for the next due time. Everything is derived
from the stored status, so a restarted controller measures next when it would have.

Secret-backed argument values never reach the status or an Event: provider errors and
metadata, measured values (an endpoint may echo its query string or headers) and
condition messages are masked with the run's redactor (`ResolvedArgs.redact`) before the
status is written, and Events quote at most `EVENT_VALUE_LENGTH` characters of a value.

A run's own status write coming back on the watch is not reconciled again (nothing in
it is new; the reconcile that wrote it set the timer), unless a reconcile found the
cache behind that write and waits for it.

It talks to the Rollout controller only through AnalysisRun objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from analysis.args import ArgsError, MissingSecret, kube_secret_reader, resolve_args, substitute
from analysis.decide import plan_run, record
from analysis.providers import MeasureContext, MetricProvider, Outcome, provider_for
from rollouts.api import AnalysisPhase
from rollouts.api.common import format_time
from rollouts.api.sharding import instance_selector
from rollouts.kube import ANALYSIS_RUN, Conflict, Informer, KubeClient, NotFound
from rollouts.kube.shared import SharedInformers
from rollouts.merge_patch import merge_patch
from rollouts.runtime import (
    Clock,
    ReconcileResult,
    SystemClock,
    Timers,
    WorkQueue,
    log_fields,
)
from rollouts.runtime.queue import key_of, split_key
from rollouts.runtime.written import CATCH_UP_FALLBACK, WrittenVersions

log = logging.getLogger(__name__)

EVENT_VALUE_LENGTH = 200
"""Longest measured value an Event quotes (the status keeps up to 1 KiB of it)."""


def _phase(status: dict[str, Any]) -> AnalysisPhase | None:
    try:
        return AnalysisPhase(status["phase"]) if status.get("phase") else None
    except ValueError:
        return None


class AnalysisRunController:
    """Reconciles AnalysisRuns: measure what is due, write status, sleep until next."""

    def __init__(
        self,
        client: KubeClient,
        providers: dict[str, MetricProvider],
        *,
        namespace: str | None = None,
        clock: Clock | None = None,
        instance_id: str = "",
        informers: SharedInformers | None = None,
    ) -> None:
        self.client = client
        self.providers = providers
        self.clock: Clock = clock or SystemClock()
        # Only this install's runs (`--instance-id`, as Argo Rollouts shards); the cache is
        # the Rollout controller's too when they share `informers` (one process).
        self.runs = (informers or SharedInformers(client)).informer(
            ANALYSIS_RUN, namespace, instance_selector(instance_id))
        self._queue: WorkQueue | None = None
        self._timers: Timers | None = None
        self._written = WrittenVersions()
        self._read_secret = kube_secret_reader(client)

    @property
    def name(self) -> str:
        return "analysis"

    def informers(self) -> Sequence[Informer]:
        return (self.runs,)

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self._queue, self._timers = queue, timers
        self.runs.add_handler(lambda _t, obj, _old: self._enqueue(obj))

    def _enqueue(self, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        if self._queue is None:
            return
        # Our own status write coming back changes nothing to plan: the reconcile that
        # wrote it set the timer for what is due next. It is queued only when a
        # reconcile found the cache behind that write and is waiting for it.
        if not self._written.wrote(key, obj) or self._written.echo_wanted(key):
            self._queue.add(key)

    def reconcile(self, key: str, /) -> ReconcileResult:
        namespace, name = split_key(key)
        run = self.runs.get(namespace, name)
        if run is None:
            if self._timers is not None:
                self._timers.cancel(key)
            self._written.forget(key)
            return ReconcileResult()
        caught_up = self._written.catch_up(key, run, lambda: self.runs.get(namespace, name))
        if caught_up is None:
            return ReconcileResult(requeue_after=CATCH_UP_FALLBACK)
        run = caught_up
        old_status = dict(run.get("status") or {})
        phase = _phase(old_status)
        if phase is not None and phase.completed:
            return ReconcileResult()
        return self._measure(key, run, old_status)

    def _measure(self, key: str, run: dict[str, Any], old_status: dict[str, Any]
                 ) -> ReconcileResult:
        now = self.clock.now()
        try:
            args = resolve_args(run, self._read_secret)
            metrics = [substitute(dict(m), args) for m in (run.get("spec") or {}).get(
                "metrics") or []]
        except (ArgsError, MissingSecret) as problem:
            status = dict(old_status, phase=AnalysisPhase.ERROR.value,
                          message=f"Analysis spec invalid: {problem}",
                          startedAt=old_status.get("startedAt") or format_time(now))
            self._write(key, run, old_status, status)
            return ReconcileResult()
        # The run as planned: the cached object with its metrics substituted. A shallow
        # copy is enough (`plan_run` and `record` copy the status they change and only
        # read the rest); a deep copy of the cached run was ~2% of the controller's CPU.
        view = {**run, "spec": {**(run.get("spec") or {}), "metrics": metrics}}
        plan = plan_run(view, now)
        status = plan.status
        by_name = {str(m.get("name")): m for m in metrics}
        for metric_name in plan.cancelled:
            self._cancel(run, by_name.get(metric_name), status, now)
        for metric_name in plan.due:
            metric = by_name[metric_name]
            started = self.clock.now()  # startedAt is before the query, as in Argo
            outcome = self._take(run, metric, status, now)
            error = args.redact(outcome.error) if outcome.error else None
            outcome = replace(outcome, error=error, started_at=outcome.started_at or started,
                              metadata=args.redact_all(dict(outcome.metadata)))
            status = record(view, status, metric_name, outcome, self.clock.now(),
                            redact=args.redact)
        settled = plan_run({**view, "status": status}, self.clock.now())
        for metric_name in settled.cancelled:
            self._cancel(run, by_name.get(metric_name), settled.status, now)
        self._write(key, run, old_status, _redacted(settled.status, args.redact))
        if self._timers is not None:
            if not settled.done and settled.next_wake is not None:
                self._timers.at(key, settled.next_wake, "measure")
            elif settled.done:
                self._timers.cancel(key)
        return ReconcileResult()

    def _take(self, run: dict[str, Any], metric: dict[str, Any], status: dict[str, Any],
              now: Any) -> Outcome:
        kind = provider_for(metric)
        provider = self.providers.get(kind or "")
        if provider is None:
            return Outcome(error=f"metric provider {kind or '(none)'} is not supported; "
                                 "use prometheus, web, job or judge")
        context = self._context(run, metric, status, now)
        try:
            return provider.measure(context)
        except Exception as unexpected:  # a provider bug must not stop the run's clock
            log.exception("provider %s failed on %s", kind, context.run_name,
                          extra=_fields(run))
            return Outcome(error=f"{kind} provider failed: {type(unexpected).__name__}")

    def _context(self, run: dict[str, Any], metric: dict[str, Any], status: dict[str, Any],
                 now: Any) -> MeasureContext:
        meta = run["metadata"]
        result: dict[str, Any] = next((r for r in status.get("metricResults") or []
                       if r.get("name") == metric.get("name")), {})
        measurements = result.get("measurements") or []
        number = int(result.get("count") or 0) + int(result.get("error") or 0) + 1
        return MeasureContext(
            namespace=str(meta.get("namespace")), run_name=str(meta["name"]),
            run_uid=str(meta.get("uid")), metric=metric,
            previous=measurements[-1] if measurements else None, now=now,
            measurement_number=number)

    def _cancel(self, run: dict[str, Any], metric: dict[str, Any] | None,
                status: dict[str, Any], now: Any) -> None:
        if metric is None:
            return
        provider = self.providers.get(provider_for(metric) or "")
        if provider is None:
            return
        try:
            provider.terminate(self._context(run, metric, status, now))
        except NotFound:
            pass
        except Exception:  # cleanup is best effort; the run's ownerReference GCs the rest
            log.warning("could not stop the in-flight measurement of %s", metric.get("name"),
                        extra=_fields(run))

    def _write(self, key: str, run: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
               ) -> None:
        diff = merge_patch(old, new)
        if not diff:
            return
        meta = run["metadata"]
        body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": diff}
        try:
            written = self.client.patch_status(ANALYSIS_RUN, meta.get("namespace"),
                                               meta["name"], body)
        except Conflict:
            if self._queue is not None:
                self._queue.add_after(key, 0.2)
            return
        self._written.record(key, written)
        self._events(run, old, new)

    def _events(self, run: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
        before, after = _phase(old), _phase(new)
        if after is None or after == before or not after.completed:
            return
        warning = after != AnalysisPhase.SUCCESSFUL
        message = f"AnalysisRun {after.value}" + (f": {new['message']}" if new.get(
            "message") else "")
        self.client.emit_event(run, "Warning" if warning else "Normal",
                               f"AnalysisRun{after.value}", message[:1000])
        for result in new.get("metricResults") or []:
            name, phase = result.get("name"), result.get("phase")
            last = (result.get("measurements") or [{}])[-1]
            value = str(last.get("value", "-"))
            if len(value) > EVENT_VALUE_LENGTH:
                value = value[: EVENT_VALUE_LENGTH - 3] + "..."
            self.client.emit_event(
                run, "Normal" if phase == "Successful" else "Warning", f"Metric{phase}",
                f"metric {name} {phase}: last value {value}")


def _redacted(status: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """`status` with the free text that may quote a measured value redacted.

    `record` already masked what it stored; this also covers messages that other steps
    compose from them (the run's and each metric's `message`). Times, phases and counters
    are left alone: a short secret must not mangle them.
    """
    fresh = dict(status)
    if isinstance(fresh.get("message"), str):
        fresh["message"] = redact(fresh["message"])
    results = []
    for result in fresh.get("metricResults") or []:
        if not isinstance(result, dict):
            results.append(result)
            continue
        result = dict(result)
        if isinstance(result.get("message"), str):
            result["message"] = redact(result["message"])
        measured = []
        for measurement in result.get("measurements") or []:
            if isinstance(measurement, dict):
                measurement = {key: redact(value) if key in ("value", "message")
                               and isinstance(value, str) else value
                               for key, value in measurement.items()}
            measured.append(measurement)
        if "measurements" in result:
            result["measurements"] = measured
        results.append(result)
    if "metricResults" in fresh:
        fresh["metricResults"] = results
    return fresh


def _fields(run: dict[str, Any]) -> dict[str, Any]:
    """`extra=` naming the run, so JSON log lines carry kind/namespace/name."""
    meta = run.get("metadata") or {}
    return log_fields(kind="AnalysisRun", namespace=meta.get("namespace"),
                      name=meta.get("name"))

