"""Which router a Rollout uses, built from its `trafficRouting` settings. Pure.

Argo allows several routers at once (each gets the same weight); so do we: the
routers are returned in a fixed order (SMI, NGINX, Istio, Gateway API).
Routers we do not implement (ALB, Traefik, ...) are not returned: the API model
reports them as warnings and the canary behaves as without a router.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollouts.traffic.base import Live, TrafficRouter
from rollouts.traffic.gatewayapi import PLUGIN_NAME, GatewayAPIRouter
from rollouts.traffic.istio import IstioRouter
from rollouts.traffic.nginx import NginxRouter
from rollouts.traffic.smi import SMI_GROUP, SMIRouter

__all__ = ["TrafficView", "make_routers", "routing_settings", "uses_router"]


@dataclass(frozen=True)
class TrafficView:
    """What the canary planner sees of its routers: the routers, the live objects they
    read (None for one that does not exist), and a problem that kept them from being
    read (settings that cannot be used, an API error), to be reported."""

    routers: tuple[TrafficRouter, ...]
    live: Live = field(default_factory=dict)
    problem: str | None = None


def routing_settings(raw: dict[str, Any]) -> dict[str, Any]:
    canary = ((raw.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    routing = canary.get("trafficRouting")
    return routing if isinstance(routing, dict) else {}


def make_routers(raw: dict[str, Any], *, smi_version: str = "v1alpha4") -> list[TrafficRouter]:
    """The routers configured on the Rollout `raw` (an empty list: no router we implement).
    Raises `RouterError` when a router's settings cannot be used."""
    routing = routing_settings(raw)
    routers: list[TrafficRouter] = []
    if routing.get("smi") is not None:
        routers.append(SMIRouter(raw, api_version=f"{SMI_GROUP}/{smi_version}"))
    if routing.get("nginx") is not None:
        routers.append(NginxRouter(raw))
    if routing.get("istio") is not None:
        routers.append(IstioRouter(raw))
    plugins = routing.get("plugins")
    if isinstance(plugins, dict) and plugins.get(PLUGIN_NAME) is not None:
        routers.append(GatewayAPIRouter(raw))
    return routers


def uses_router(raw: dict[str, Any]) -> bool:
    """Whether the Rollout configures a router we implement (errors in its settings
    aside): the canary then follows traffic-routed semantics."""
    routing = routing_settings(raw)
    plugins = routing.get("plugins")
    return any(routing.get(name) is not None for name in ("smi", "nginx", "istio")) or (
        isinstance(plugins, dict) and plugins.get(PLUGIN_NAME) is not None)


