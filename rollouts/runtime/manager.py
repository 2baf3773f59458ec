"""The `Manager` runs controllers: caches, leader election, workers, health endpoints.

`rollouts controller` builds the controllers it was asked for (Rollout, analysis,
reconciler), hands them to a `Manager` and calls `run()`. In order, `run`:

1. binds each controller to its own `WorkQueue` and `Timers` (`controller.bind`);
2. serves `/healthz`, `/readyz`, `/metrics` (see `health.py`);
3. starts every distinct informer and waits until all have synced, or raises
   `CacheSyncTimeout` after `sync_timeout` seconds;
4. with a leader elector, waits to lead (caches stay warm meanwhile, so a standby
   takes over quickly; its handlers fill the queues, which dedup);
5. starts the timers and `workers` threads per controller, each looping
   `get -> reconcile -> forget / retry -> done`;
6. returns when `stop_event` is set or `stop()` is called, after shutting everything
   down; raises `LeaderElectionLost` if the lease was lost: like controller-runtime,
   the process then exits and its supervisor restarts it as a standby, rather than
   trying to wind down controllers that may hold stale decisions.

Losing the lease (the elector's renew deadline passed) stops taking work at once (the
queues shut down) and calls `on_lost` on the elector's thread, so the command can end
the process after a short grace even while a worker is still busy (a deposed leader's
in-flight writes are abandoned, not finished). On a clean stop the workers get
`shutdown_timeout` seconds to finish; the lease is released only if they all did,
otherwise it is left to expire, so a standby never acts beside a still-busy worker.

With an elector, `/metrics` carries `controller_leader{identity="<host>_<uuid>"}`: 1 while
this replica leads, 0 while it stands by (as `/readyz` says `ok: leading` / `ok: standby`).

Probes: `/healthz` is 200 while `run` is running and every worker thread is alive.
`/readyz` is 200 once the caches have synced, on the leader *and* on standbys: a
standby is ready to take over, and marking it unready would make a rolling update of
the controller Deployment wait forever for a replica that is correctly waiting.

Errors from `reconcile` are logged and the key retried with per-key exponential
backoff (see `retry.py`), waiting at least the error's `retry_after` seconds when it
carries one (a 429 from the API server). An error with `temporary = False` (403, 404,
422) is retried too, but slowly (30 s doubling to 10 minutes, logged at ERROR): the
object may be fine and the world wrong (RBAC not granted yet, a CRD missing), and it
must recover once the world is fixed, without waiting for someone to edit it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .clock import Clock, SystemClock
from .health import HealthServer
from .interfaces import Controller, InformerLike, LeaderElectorLike
from .queue import WorkQueue, split_key
from .retry import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    PERMANENT_BASE_DELAY,
    PERMANENT_MAX_DELAY,
    ErrorKind,
    error_kind,
)
from .timers import Timers

__all__ = ["CacheSyncTimeout", "LeaderElectionLost", "Manager"]

log = logging.getLogger(__name__)

_POLL = 0.05  # how often the wait for the caches re-checks them (startup only)
# While running, the run loop sleeps until woken (`_wake`: stop(), the lease, the caller's
# stop_event through `_relay`); this is only a safety net. Polling at _POLL here was most
# of an idle controller's CPU (20 wakeups a second, ~0.12 CPU-s a minute).
_IDLE_WAIT = 5.0
_RELAY_WAIT = 1.0  # how often the relay of the caller's stop_event checks for shutdown


class CacheSyncTimeout(RuntimeError):
    """Informers did not finish their first list in time."""


class LeaderElectionLost(RuntimeError):
    """This replica lost (or never got, because the elector ended) the leader lease."""


@dataclass
class _Runner:
    controller: Controller
    queue: WorkQueue
    timers: Timers
    informers: list[InformerLike]
    workers: list[threading.Thread] = field(default_factory=list)


class Manager:
    """Runs controllers until stopped; see the module docstring for the lifecycle."""

    def __init__(
        self,
        controllers: Sequence[Controller],
        *,
        workers: int = 1,
        leader_elector: LeaderElectorLike | None = None,
        registry: CollectorRegistry | None = None,
        host: str = "127.0.0.1",
        port: int = 8090,
        clock: Clock | None = None,
        sync_timeout: float = 60.0,
        shutdown_timeout: float = 5.0,
        queue_base_delay: float = DEFAULT_BASE_DELAY,
        queue_max_delay: float = DEFAULT_MAX_DELAY,
        queue_permanent_base_delay: float = PERMANENT_BASE_DELAY,
        queue_permanent_max_delay: float = PERMANENT_MAX_DELAY,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        names = [c.name for c in controllers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"controller names must be unique, repeated: {duplicates}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1 per controller, got {workers}")
        self._workers = workers
        self._elector = leader_elector
        self._on_lost = on_lost
        self._clock: Clock = clock or SystemClock()
        self._sync_timeout = sync_timeout
        self._shutdown_timeout = shutdown_timeout
        self._runners: dict[str, _Runner] = {}
        for controller in controllers:
            queue = WorkQueue(
                controller.name,
                clock=self._clock,
                base_delay=queue_base_delay,
                max_delay=queue_max_delay,
                permanent_base_delay=queue_permanent_base_delay,
                permanent_max_delay=queue_permanent_max_delay,
            )
            self._runners[controller.name] = _Runner(
                controller, queue, Timers(queue, self._clock), []
            )
        self._lifecycle = threading.Lock()
        self._wake = threading.Event()  # nudges the run loop out of its poll
        self._stop_requested = threading.Event()
        self._running = threading.Event()
        self._synced = threading.Event()
        self._leading = threading.Event()
        self._lost = threading.Event()
        self._stopping = threading.Event()
        self._shut_down = False
        self._ran = False
        self._informers: list[InformerLike] = []
        self._elector_thread: threading.Thread | None = None
        self._elector_stop = threading.Event()
        self._run_thread: threading.Thread | None = None
        chosen = registry if registry is not None else REGISTRY
        if leader_elector is not None:
            identity = str(getattr(leader_elector, "identity", "") or "")
            try:
                chosen.register(_LeaderCollector(identity, self._leading.is_set))
            except ValueError:  # a second Manager on the same registry: keep the first
                log.warning("controller_leader is already registered; not adding another")
        self._server = HealthServer(
            host=host,
            port=port,
            liveness=self.liveness,
            readiness=self.readiness,
            registry=chosen,
        )

    # -- public ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port of `/healthz`, `/readyz`, `/metrics` (the real one when 0 was asked)."""
        return self._server.port

    def queue(self, controller: str) -> WorkQueue:
        """The work queue of the named controller."""
        return self._runners[controller].queue

    def timers(self, controller: str) -> Timers:
        """The timers of the named controller."""
        return self._runners[controller].timers

    def liveness(self) -> tuple[bool, str]:
        """`/healthz`: is the process running and are its workers alive?"""
        if not self._running.is_set() or self._stopping.is_set():
            return False, "not running"
        dead = [t.name for r in self._runners.values() for t in r.workers if not t.is_alive()]
        if dead:
            return False, f"worker threads died: {', '.join(dead)}"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        """`/readyz`: have the caches synced? (leader and standby alike, see module doc)"""
        if not self._running.is_set() or self._stopping.is_set():
            return False, "not running"
        if not self._synced.is_set():
            return False, "waiting for caches to sync"
        if self._elector is None:
            return True, "ok"
        return True, "ok: leading" if self._leading.is_set() else "ok: standby"

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Run until `stop_event` is set or `stop()` is called; see the module docstring.

        Raises `CacheSyncTimeout` or `LeaderElectionLost` (after shutting down).
        """
        with self._lifecycle:
            if self._ran:
                raise RuntimeError("Manager.run() may be called only once per Manager")
            self._ran = True
            self._run_thread = threading.current_thread()
        external = stop_event if stop_event is not None else threading.Event()
        threading.Thread(target=self._relay, args=(external,), name="manager-stop-relay",
                         daemon=True).start()
        try:
            self._start_serving()
            if self._wait_for_caches(external) and self._wait_to_lead(external):
                self._start_workers()
                self._wait(external, until=lambda: False)
        finally:
            self._shutdown()
        if self._lost.is_set() and not self._stop_requested.is_set() and not external.is_set():
            raise LeaderElectionLost(
                "lost the leader lease: stopped all controllers; restart the process "
                "(it will wait as a standby until it can lead again)"
            )

    def stop(self) -> None:
        """Shut everything down (idempotent, any thread); `run` then returns.

        Called on the thread inside `run` (a signal handler), it only asks `run` to stop,
        so it never waits on a shutdown that thread itself is in the middle of.
        """
        self._stop_requested.set()
        self._wake.set()
        if threading.current_thread() is not self._run_thread:
            self._shutdown()

    # -- phases of run ----------------------------------------------------------------

    def _start_serving(self) -> None:
        with self._lifecycle:
            if self._shut_down:
                return
            for runner in self._runners.values():
                runner.controller.bind(runner.queue, runner.timers)
                runner.informers = list(runner.controller.informers())
            self._running.set()
            self._server.start()
            log.info("serving /healthz, /readyz, /metrics on %s:%d", self._server.host, self.port)

    def _wait_for_caches(self, external: threading.Event) -> bool:
        """Start the informers and wait for them; False if asked to stop meanwhile."""
        with self._lifecycle:
            if self._shut_down:
                return False
            seen: set[int] = set()
            for runner in self._runners.values():
                for informer in runner.informers:
                    if id(informer) not in seen:
                        seen.add(id(informer))
                        self._informers.append(informer)
                        informer.start()
        deadline = time.monotonic() + self._sync_timeout
        while True:
            unsynced = [
                f"{name}: {informer!r}"
                for name, runner in self._runners.items()
                for informer in runner.informers
                if not informer.has_synced()
            ]
            if not unsynced:
                self._synced.set()
                log.info("caches synced for controllers %s", ", ".join(self._runners))
                return True
            if self._should_stop(external):
                return False
            if time.monotonic() >= deadline:
                raise CacheSyncTimeout(
                    f"caches did not sync within {self._sync_timeout:g} s; still listing: "
                    f"{'; '.join(unsynced)}. Check that the API server is reachable and "
                    "that the controller may list and watch these resources (RBAC)."
                )
            self._wake.wait(_POLL)
            self._wake.clear()

    def _wait_to_lead(self, external: threading.Event) -> bool:
        """With leader election, block until leading; False if stopping or lost first."""
        elector = self._elector
        if elector is None:
            return True
        with self._lifecycle:
            if self._shut_down:
                return False
            self._elector_thread = threading.Thread(
                target=self._run_elector, args=(elector,), name="leader-elector", daemon=True
            )
            self._elector_thread.start()
        log.info("caches synced; waiting to acquire the leader lease")
        self._wait(external, until=self._leading.is_set)
        return self._leading.is_set() and not self._should_stop(external)

    def _start_workers(self) -> None:
        with self._lifecycle:
            if self._shut_down:
                return
            for name, runner in self._runners.items():
                runner.timers.start()
                for index in range(self._workers):
                    thread = threading.Thread(
                        target=self._work,
                        args=(runner,),
                        name=f"{name}-worker-{index}",
                        daemon=True,
                    )
                    runner.workers.append(thread)
                    thread.start()
            log.info(
                "started %d worker(s) for each of: %s", self._workers, ", ".join(self._runners)
            )

    def _wait(self, external: threading.Event, *, until: Callable[[], bool]) -> None:
        while not until() and not self._should_stop(external):
            self._wake.wait(_IDLE_WAIT)
            self._wake.clear()

    def _relay(self, external: threading.Event) -> None:
        """Wake the run loop when the caller's `stop_event` is set (a plain Event cannot
        wake it itself); ends with the manager."""
        while not self._stopping.is_set():
            if external.wait(_RELAY_WAIT):
                self._wake.set()
                return

    def _should_stop(self, external: threading.Event) -> bool:
        return external.is_set() or self._stop_requested.is_set() or self._lost.is_set()

    # -- leader election ----------------------------------------------------------------

    def _run_elector(self, elector: LeaderElectorLike) -> None:
        try:
            elector.run(self._on_started_leading, self._on_stopped_leading, self._elector_stop)
        except Exception:
            log.exception("leader election failed")
        if not self._stopping.is_set():
            # However the elector ended, this replica can no longer be sure it leads.
            self._on_stopped_leading()

    def _on_started_leading(self) -> None:
        log.info("acquired the leader lease")
        self._leading.set()
        self._wake.set()

    def _on_stopped_leading(self) -> None:
        self._leading.clear()
        if not self._stopping.is_set() and not self._lost.is_set():
            log.error("lost the leader lease; stopping all controllers")
            self._lost.set()
            # Take no new work from this instant; stop competing for the lease (the
            # elector does not release a lease it lost), then let the owner end us.
            for runner in self._runners.values():
                runner.queue.shutdown()
            self._elector_stop.set()
            if self._on_lost is not None:
                _quietly(self._on_lost, "the on_lost callback")
        self._wake.set()

    # -- workers --------------------------------------------------------------------

    def _work(self, runner: _Runner) -> None:
        while True:
            key = runner.queue.get()
            if key is None:
                return
            try:
                self._reconcile(runner, key)
            finally:
                runner.queue.done(key)

    def _reconcile(self, runner: _Runner, key: str) -> None:
        controller, queue = runner.controller, runner.queue
        context = _log_context(controller.name, key)
        started = time.monotonic()
        try:
            result = controller.reconcile(key)
        except Exception as error:
            kind = error_kind(error)
            expected = hasattr(error, "temporary")
            delay = queue.add_rate_limited(key, at_least=_retry_after(error), kind=kind)
            if kind is ErrorKind.PERMANENT:
                log.error(
                    "reconcile of %s failed permanently, retry %d in %g s (or when the "
                    "object changes): %s",
                    key,
                    queue.num_requeues(key, kind),
                    delay,
                    error,
                    extra=context,
                )
            else:
                log.warning(
                    "reconcile of %s failed, retry %d in %.2f s: %s",
                    key,
                    queue.num_requeues(key, kind),
                    delay,
                    error,
                    exc_info=not expected,
                    extra=context,
                )
            return
        queue.forget(key)
        requeue_after = result.requeue_after if result is not None else None
        if requeue_after is not None:
            queue.add_after(key, requeue_after)
        log.debug("reconciled %s in %.3f s", key, time.monotonic() - started, extra=context)

    # -- shutdown -------------------------------------------------------------------

    def _shutdown(self) -> None:
        with self._lifecycle:
            if self._shut_down:
                return
            self._shut_down = True
            self._stopping.set()
            self._wake.set()
            for runner in self._runners.values():
                runner.queue.shutdown()
            deadline = time.monotonic() + self._shutdown_timeout
            current = threading.current_thread()
            busy: list[str] = []
            for runner in self._runners.values():
                for thread in runner.workers:
                    if thread is not current:
                        thread.join(timeout=max(0.0, deadline - time.monotonic()))
                    if thread.is_alive():
                        busy.append(thread.name)
                _quietly(runner.timers.shutdown, "timers of " + runner.controller.name)
            if busy:
                # A standby must not act beside a worker that still writes: keep the
                # lease (it expires once this process is gone) instead of releasing it.
                log.warning("workers still busy after %g s: %s; not releasing the leader "
                            "lease", self._shutdown_timeout, ", ".join(busy))
            else:
                # Only now that no worker acts may the lease go to another replica.
                self._elector_stop.set()
                if self._elector_thread is not None and self._elector_thread is not current:
                    # Releasing the lease takes an API call or two: allow a few seconds.
                    self._elector_thread.join(timeout=max(5.0, deadline - time.monotonic()))
            for informer in self._informers:
                _quietly(informer.stop, f"informer {informer!r}")
            _quietly(self._server.stop, "health server")
            self._running.clear()
            log.info("manager stopped")


class _LeaderCollector(Collector):
    """`controller_leader{identity}`: 1 while this replica leads, else 0."""

    def __init__(self, identity: str, leading: Callable[[], bool]) -> None:
        self._identity = identity
        self._leading = leading

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("controller_leader",
                                  "1 while this replica holds the leader Lease, else 0",
                                  labels=["identity"])
        gauge.add_metric([self._identity], 1.0 if self._leading() else 0.0)
        yield gauge


def _log_context(controller: str, key: str) -> dict[str, str]:
    context = {"controller": controller, "key": key}
    try:
        namespace, name = split_key(key)
    except ValueError:
        return context
    if namespace:
        context["namespace"] = namespace
    context["object_name"] = name
    return context


def _retry_after(error: Exception) -> float:
    """The server's `Retry-After` carried by the error (`KubeError.retry_after`), or 0."""
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def _quietly(action: Callable[[], None], what: str) -> None:
    try:
        action()
    except Exception:
        log.exception("stopping %s failed", what)
