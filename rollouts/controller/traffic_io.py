"""The impure edge of traffic routing: reading the objects a Rollout's routers need, and
writing what the planner decided (`Plan.router_writes`).

Reads are plain GETs of the few objects a router names (a TrafficSplit, a canary
Ingress, a VirtualService...), done only for Rollouts with a router; a missing object,
or a missing CRD, reads as None and the router says what to create. The SMI version is
the one the API server prefers, asked once per controller and again after 5 minutes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from rollouts.kube import AlreadyExists, Kind, KubeClient, KubeError, NotFound
from rollouts.runtime import log_fields
from rollouts.traffic.base import ObjectKey, RouterError, Write
from rollouts.traffic.select import TrafficView, make_routers, uses_router
from rollouts.traffic.smi import SMI_GROUP, SMI_VERSIONS

log = logging.getLogger(__name__)

_VERSION_TTL = 300.0


def kind_of(key: ObjectKey) -> Kind:
    return Kind(key.group, key.version, key.plural, key.kind)


class TrafficIO:
    """Reads and writes router objects for the Rollout controller."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._smi: tuple[float, str] | None = None

    def smi_version(self) -> str:
        with self._lock:
            if self._smi is not None and time.monotonic() - self._smi[0] < _VERSION_TTL:
                return self._smi[1]
        served = [v for v in self.client.served_versions(SMI_GROUP) if v in SMI_VERSIONS]
        version = served[0] if served else SMI_VERSIONS[-1]
        with self._lock:
            self._smi = (time.monotonic(), version)
        return version

    def observe(self, raw: dict[str, Any]) -> tuple[TrafficView | None, str | None]:
        """The routers of `raw` with their live objects, or a spec problem (settings a
        router cannot use). (None, None) for a Rollout without a router we implement."""
        if not uses_router(raw):
            return None, None
        problem: str | None = None
        smi = SMI_VERSIONS[-1]
        if "smi" in _routing(raw):
            try:
                smi = self.smi_version()
            except KubeError as error:
                problem = f"cannot ask the API server which SMI version it serves: {error}"
        try:
            routers = make_routers(raw, smi_version=smi)
        except RouterError as error:
            return None, f"spec.strategy.canary.trafficRouting: {error}"
        live: dict[ObjectKey, dict[str, Any] | None] = {}
        for router in routers:
            for key in router.reads():
                if key in live:
                    continue
                try:
                    live[key] = self.client.get(kind_of(key), key.namespace, key.name)
                except NotFound:
                    live[key] = None
                except KubeError as error:
                    problem = f"cannot read {key.kind} {key.namespace}/{key.name}: {error}"
        return TrafficView(tuple(routers), live, problem), None


def _routing(raw: dict[str, Any]) -> dict[str, Any]:
    canary = ((raw.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    routing = canary.get("trafficRouting")
    return routing if isinstance(routing, dict) else {}


def write_router_objects(client: KubeClient, raw: dict[str, Any], writes: list[Write]) -> None:
    """Create or patch each router object (a conflict raises: the pass plans again)."""
    meta = raw["metadata"]
    context = log_fields(kind="Rollout", namespace=meta.get("namespace"), name=meta.get("name"))
    for write in writes:
        kind = kind_of(write.key)
        if write.create is not None:
            with contextlib.suppress(AlreadyExists):
                client.create(kind, write.key.namespace, write.create)
        elif write.patch is not None:
            client.patch(kind, write.key.namespace, write.key.name, write.patch)
        log.info("traffic: %s", write.reason or f"{write.key.kind} {write.key.name}",
                 extra=context)
