"""Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never act at once.

The Lease records who leads (`spec.holderIdentity`), when it last said so
(`spec.renewTime`) and for how long that holds (`spec.leaseDurationSeconds`):

    spec:
      holderIdentity: controller-7d9f-x2k4
      leaseDurationSeconds: 15
      acquireTime: "2025-01-01T10:00:00.000000Z"
      renewTime: "2025-01-01T10:04:58.120000Z"
      leaseTransitions: 3

A candidate takes the Lease when it is absent, released (no holder) or expired
(`renewTime + leaseDurationSeconds` is past: `should_acquire`, pure). Writes carry the
resourceVersion that was read, so of two candidates racing, one gets `Conflict` and
loses. As in client-go (and Argo Rollouts, with the same 15 s / 10 s / 2 s defaults)
the leader renews every `retry_seconds` and steps down when no renewal succeeded for
`renew_seconds`: it stops acting before the Lease can expire for the others. On a clean
stop it releases the Lease (no holder, 1 s duration) so a standby takes over at once.

Expiry compares the Lease's timestamps with the local clock, so clocks of the replicas
must agree to well under `lease_seconds - renew_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rollouts.kube.client import KubeClient
from rollouts.kube.errors import AlreadyExists, Conflict, KubeError, NotFound
from rollouts.kube.kinds import LEASE
from rollouts.kube.request import Verb, request_for

__all__ = ["LeaderElector", "format_micro_time", "lease_spec", "parse_micro_time",
           "should_acquire"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


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


def should_acquire(lease: dict[str, Any] | None, identity: str, now: datetime) -> bool:
    """Whether `identity` may take (or keep) the Lease at `now`."""
    if lease is None:
        return True  # nobody ever led: create the Lease
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if not holder:
        return True  # released by its last holder
    if holder == identity:
        return True  # ours: renew it
    renewed = parse_micro_time(spec.get("renewTime")) or parse_micro_time(spec.get("acquireTime"))
    if renewed is None:
        return True  # a holder that never said when: not a valid claim
    duration = spec.get("leaseDurationSeconds")
    if not isinstance(duration, int) or duration <= 0:
        return True  # no duration: the claim expires at once
    return now >= renewed + timedelta(seconds=duration)  # held by another until it expires


def lease_spec(
    previous: dict[str, Any] | None, identity: str, lease_seconds: int, now: datetime
) -> dict[str, Any]:
    """The Lease spec that says `identity` leads from `now` (pure)."""
    old = (previous or {}).get("spec") or {}
    stamp = format_micro_time(now)
    transitions = int(old.get("leaseTransitions") or 0)
    if old.get("holderIdentity") == identity:
        acquired = old.get("acquireTime") or stamp
    else:
        acquired = stamp
        if previous is not None:
            transitions += 1
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": lease_seconds,
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
        lease_seconds: int = 15,
        renew_seconds: float = 10,
        retry_seconds: float = 2,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not retry_seconds < renew_seconds < lease_seconds:
            raise ValueError("leader election needs retry_seconds < renew_seconds < lease_seconds")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._leading = threading.Event()
        # Each call must end well before the renew deadline can pass unnoticed.
        self._call_timeout = max(1.0, min(float(retry_seconds), 5.0))
        self.observed_holder = ""

    def is_leader(self) -> bool:
        return self._leading.is_set()

    def run(
        self,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        stop_event: threading.Event,
    ) -> None:
        """Compete until `stop_event` is set: `on_started()` when this process becomes the
        leader, `on_stopped()` when it stops being one (renewals failed, or stop).

        The callbacks run on this thread and must return promptly; they may alternate
        several times (leadership lost while the API server was away, then won back).
        On stop the Lease is released after `on_stopped()` returned.
        """
        while not stop_event.is_set():
            if not self.try_acquire_or_renew():
                stop_event.wait(self.retry_seconds)
                continue
            last_renewed = time.monotonic()
            self._leading.set()
            log.info("leader election: %s leads %s/%s", self.identity, self.namespace, self.name)
            self._call(on_started)
            while not stop_event.wait(self.retry_seconds):
                attempt_started = time.monotonic()
                if self.try_acquire_or_renew():
                    last_renewed = attempt_started
                elif time.monotonic() - last_renewed >= self.renew_seconds:
                    log.warning("leader election: %s could not renew %s/%s for %.0fs; "
                                "stepping down", self.identity, self.namespace, self.name,
                                self.renew_seconds)
                    break
            self._leading.clear()
            self._call(on_stopped)
            if stop_event.is_set():
                self.release()

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or renew the Lease; True when we hold it afterwards."""
        now = self._clock()
        try:
            lease = self._read()
            if not should_acquire(lease, self.identity, now):
                self.observed_holder = str(((lease or {}).get("spec") or {}).get("holderIdentity"))
                return False
            spec = lease_spec(lease, self.identity, self.lease_seconds, now)
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
        try:
            lease = self._read()
            spec = (lease or {}).get("spec") or {}
            if lease is None or spec.get("holderIdentity") != self.identity:
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

    def _read(self) -> dict[str, Any] | None:
        try:
            answer = self.client.request(
                request_for(Verb.GET, LEASE, self.namespace, self.name),
                timeout=self._call_timeout,
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
        self.client.request(req, timeout=self._call_timeout)

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("leader election: a callback failed")
