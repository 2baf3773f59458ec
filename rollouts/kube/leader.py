"""Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never act at once.

The Lease records who leads (`spec.holderIdentity`), when it last said so
(`spec.renewTime`) and for how long that holds (`spec.leaseDurationSeconds`):

    spec:
      holderIdentity: controller-7d9f_4c1e...
      leaseDurationSeconds: 15
      acquireTime: "2025-01-01T10:00:00.000000Z"
      renewTime: "2025-01-01T10:04:58.120000Z"
      leaseTransitions: 3

The rules are client-go's `leaderelection` (and so Argo Rollouts' and controller-runtime's):

- Expiry is judged by the follower's own monotonic clock: a candidate remembers when it
  last saw the record *change* (`Observation.observed_at`, client-go's `observedTime`)
  and may take the Lease once `leaseDurationSeconds` passed since then. The holder's
  timestamps are never compared with the local wall clock, so clock skew between
  replicas cannot produce two leaders.
- The leader renews every `retry_seconds`. Each attempt (GET + PUT) is bounded by what
  is left of the renew deadline, and leadership ends exactly at the start of the last
  successful renewal plus `renew_seconds` (also for the first acquisition, measured
  from the attempt's start): the leader stops acting before the Lease can expire for
  the others (`renew_seconds < lease_seconds`).
- A released Lease (no holder) is taken at once. A malformed one (bad duration, times,
  transitions, missing fields) is treated as held until it expires as observed, then
  taken over: bad data never crashes the elector.
- Writes carry the resourceVersion that was read, so of two racing candidates one gets
  `Conflict` and loses.

Neighbours: `rollouts.runtime.Manager` runs `LeaderElector.run` on its own thread and
stops the workers when leadership ends; `rollouts controller` builds the elector with a
unique identity (`new_identity`) and a Lease name per controller set (`lease_name`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollouts.kube.client import KubeClient
from rollouts.kube.errors import AlreadyExists, Conflict, KubeError, NotFound
from rollouts.kube.kinds import LEASE
from rollouts.kube.request import Verb, request_for

__all__ = ["DEFAULT_LEASE_SECONDS", "DEFAULT_RENEW_SECONDS", "DEFAULT_RETRY_SECONDS",
           "LeaderElector", "Observation", "format_micro_time", "lease_duration", "lease_name",
           "lease_spec", "new_identity", "observe", "parse_micro_time", "should_acquire"]

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 15.0
"""How long a standby waits, after it last saw the Lease change, before taking it."""
DEFAULT_RENEW_SECONDS = 10.0
"""How long the leader keeps acting without a successful renewal."""
DEFAULT_RETRY_SECONDS = 2.0
"""Seconds between two attempts to acquire or renew."""
MAX_CALL_SECONDS = 5.0
"""Upper bound of one Lease GET or PUT (also bounded by the remaining renew deadline)."""
LEASE_NAME_PREFIX = "rollouts-controller"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def new_identity(hostname: str | None = None) -> str:
    """A candidate identity unique per process: host name plus a random uuid4 suffix."""
    return f"{hostname or socket.gethostname()}_{uuid.uuid4().hex}"


def lease_name(controllers: Iterable[str], instance_id: str = "") -> str:
    """The Lease of one controller set of one install (M12): split components and
    several installs (Argo Rollouts' `--instance-id`) never compete for one Lease.

    `rollouts-controller-<sorted controllers joined by '-'>[-<instance id>]`. Raises
    `ValueError` when the instance id is not a DNS label or the name gets too long.
    """
    names = sorted({c.strip() for c in controllers if c.strip()})
    parts = [LEASE_NAME_PREFIX, *names]
    if instance_id:
        if not _DNS_LABEL.match(instance_id):
            raise ValueError(f"instance id {instance_id!r} is not a DNS label: use lower-case "
                             "letters, digits and '-'")
        parts.append(instance_id)
    name = "-".join(parts)
    if len(name) > 253:
        raise ValueError(f"lease name {name[:40]}... is longer than 253 characters")
    return name


def format_micro_time(when: datetime) -> str:
    """A Kubernetes MicroTime: `2025-01-01T10:00:00.000000Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Observation:
    """The Lease record as last seen, and when (local monotonic seconds) it last changed."""

    record: str
    observed_at: float


def _spec(lease: dict[str, Any] | None) -> dict[str, Any]:
    spec = (lease or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _holder(spec: dict[str, Any]) -> str:
    holder = spec.get("holderIdentity")
    return holder if isinstance(holder, str) else ""


def observe(previous: Observation | None, lease: dict[str, Any] | None,
            now: float) -> Observation | None:
    """The observation after reading `lease` at `now`: unchanged record, unchanged time."""
    if lease is None:
        return None
    record = json.dumps(_spec(lease), sort_keys=True, default=str)
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def lease_duration(lease: dict[str, Any] | None, fallback: float) -> float:
    """The holder's `leaseDurationSeconds`, or `fallback` (ours) when it is malformed."""
    value = _spec(lease).get("leaseDurationSeconds")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return fallback
    return float(value)


def should_acquire(lease: dict[str, Any] | None, identity: str,
                   observation: Observation | None, now: float,
                   fallback_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Whether `identity` may take (or keep) the Lease at local monotonic time `now`.

    `observation` is what this candidate saw of the same Lease (see `observe`).
    """
    if lease is None:
        return True  # nobody ever led: create the Lease
    holder = _holder(_spec(lease))
    if not holder:
        return True  # released by its last holder
    if holder == identity:
        return True  # ours: renew it
    if observation is None:
        return False  # never seen: watch it for a full duration first
    return now >= observation.observed_at + lease_duration(lease, fallback_seconds)


def _transitions(spec: dict[str, Any]) -> int:
    try:
        value = int(spec.get("leaseTransitions") or 0)
    except (ValueError, TypeError, OverflowError):
        return 0  # malformed: start counting again rather than crash
    return max(0, value)


def lease_spec(
    previous: dict[str, Any] | None, identity: str, lease_seconds: float, now: datetime
) -> dict[str, Any]:
    """The Lease spec that says `identity` leads from `now` (pure)."""
    old = _spec(previous)
    stamp = format_micro_time(now)
    transitions = _transitions(old)
    acquired = old.get("acquireTime")
    if _holder(old) != identity or parse_micro_time(acquired) is None:
        acquired = stamp
        if previous is not None and _holder(old) != identity:
            transitions += 1
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, round(lease_seconds)),
        "acquireTime": acquired,
        "renewTime": stamp,
        "leaseTransitions": transitions,
    }


class LeaderElector:
    """Competes for the Lease `namespace/name` as `identity` (unique per process)."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        renew_seconds: float = DEFAULT_RENEW_SECONDS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        *,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < retry_seconds < renew_seconds < lease_seconds:
            raise ValueError("leader election needs 0 < retry_seconds < renew_seconds < "
                             "lease_seconds (e.g. 2 < 10 < 15)")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._leading = threading.Event()
        self._lock = threading.Lock()
        self._observation: Observation | None = None
        self._deadline = 0.0  # monotonic end of the current attempt
        self._valid_until = 0.0  # monotonic end of leadership: last renew's start + deadline
        self.observed_holder = ""

    def is_leader(self) -> bool:
        """True while this process leads, judged by the clock at the moment of asking:
        false from the renew deadline on even if the elector's thread has not run since
        (a stalled process must not keep writing). The controllers' write fence."""
        return self._leading.is_set() and self._monotonic() < self._valid_until

    def run(
        self,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        stop_event: threading.Event,
    ) -> None:
        """Compete until `stop_event` is set: `on_started()` when this process becomes the
        leader, `on_stopped()` when it stops being one (renew deadline passed, or stop).

        The callbacks run on this thread and must return promptly; they may alternate
        (leadership lost while the API server was away, then won back). The Lease is
        released only when leadership ended because `stop_event` was set: the caller
        sets it only once nothing acts any more.
        """
        while not stop_event.is_set():
            started = self._monotonic()
            if not self._attempt(started + self.renew_seconds):
                stop_event.wait(self.retry_seconds)
                continue
            last_renew = started  # the deadline runs from the attempt's start
            self._valid_until = last_renew + self.renew_seconds
            self._leading.set()
            log.info("leader election: %s leads %s/%s", self.identity, self.namespace, self.name)
            self._call(on_started)
            stopped = self._keep_leading(last_renew, stop_event)
            self._leading.clear()
            self._call(on_stopped)
            if stopped:
                self.release()

    def _keep_leading(self, last_renew: float, stop_event: threading.Event) -> bool:
        """Renew until the deadline passes (False) or `stop_event` is set (True)."""
        while True:
            deadline = last_renew + self.renew_seconds
            pause = min(self.retry_seconds, deadline - self._monotonic())
            if stop_event.wait(max(0.0, pause)):
                return True
            attempt_start = self._monotonic()
            if attempt_start >= deadline:
                log.warning("leader election: %s could not renew %s/%s within %gs; "
                            "leadership lost", self.identity, self.namespace, self.name,
                            self.renew_seconds)
                return False
            if self._attempt(deadline):
                last_renew = attempt_start
                self._valid_until = last_renew + self.renew_seconds

    def _attempt(self, deadline: float) -> bool:
        """`try_acquire_or_renew` in a helper thread, abandoned at `deadline` (a hung
        connection or DNS lookup must not keep a deposed leader acting)."""
        outcome: list[bool] = []
        done = threading.Event()
        self._deadline = deadline

        def body() -> None:
            try:
                outcome.append(self.try_acquire_or_renew())
            except Exception:
                log.exception("leader election: an attempt on %s/%s failed",
                              self.namespace, self.name)
            finally:
                done.set()

        threading.Thread(target=body, name="leader-election-attempt", daemon=True).start()
        if not done.wait(max(0.0, deadline - self._monotonic())):
            log.warning("leader election: an attempt on %s/%s did not finish before the "
                        "renew deadline; abandoned", self.namespace, self.name)
            return False
        return bool(outcome and outcome[0])

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or renew the Lease; True when we hold it afterwards."""
        try:
            lease = self._read()
            now = self._monotonic()
            with self._lock:
                self._observation = observe(self._observation, lease, now)
                observation = self._observation
            if not should_acquire(lease, self.identity, observation, now, self.lease_seconds):
                self.observed_holder = _holder(_spec(lease))
                return False
            spec = lease_spec(lease, self.identity, self.lease_seconds, self._clock())
            self._write(lease, spec)
        except (Conflict, AlreadyExists):
            return False  # another candidate wrote first
        except KubeError as exc:
            log.warning("leader election on %s/%s: %s", self.namespace, self.name, exc)
            return False
        self.observed_holder = self.identity
        return True

    def release(self) -> bool:
        """Give the Lease up (if we hold it) so another candidate can take it at once."""
        self._deadline = self._monotonic() + MAX_CALL_SECONDS
        try:
            lease = self._read()
            spec = _spec(lease)
            if lease is None or _holder(spec) != self.identity:
                return False
            self._write(lease, {
                **spec,
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "renewTime": format_micro_time(self._clock()),
            })
        except KubeError as exc:
            log.warning("leader election: could not release %s/%s: %s",
                        self.namespace, self.name, exc)
            return False
        log.info("leader election: %s released %s/%s", self.identity, self.namespace, self.name)
        return True

    def _call_timeout(self) -> float:
        left = self._deadline - self._monotonic()
        return max(0.1, min(MAX_CALL_SECONDS, left))

    def _read(self) -> dict[str, Any] | None:
        try:
            answer = self.client.request(
                request_for(Verb.GET, LEASE, self.namespace, self.name),
                timeout=self._call_timeout(),
            )
        except NotFound:
            return None
        return answer if isinstance(answer, dict) else None

    def _write(self, lease: dict[str, Any] | None, spec: dict[str, Any]) -> None:
        if lease is None:
            body = {
                "apiVersion": LEASE.api_version, "kind": LEASE.kind,
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": spec,
            }
            req = request_for(Verb.CREATE, LEASE, self.namespace, body=body)
        else:
            # The read resourceVersion makes the write conditional: a racing writer wins.
            body = {**lease, "spec": spec}
            req = request_for(Verb.REPLACE, LEASE, self.namespace, self.name, body=body)
        self.client.request(req, timeout=self._call_timeout())

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("leader election: a callback failed")
