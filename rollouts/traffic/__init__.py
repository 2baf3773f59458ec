"""Traffic routers: one module per router behind the interface in `base.py`. Pure.

Not wired into the canary controller yet (issue 10): the canary's weight still follows
replica counts and a Rollout with a router gets a Warning event saying so.
"""

from rollouts.traffic.base import Live, ObjectKey, RouterError, TrafficRouter, Weights, Write
from rollouts.traffic.gatewayapi import GatewayAPIRouter
from rollouts.traffic.istio import IstioRouter
from rollouts.traffic.nginx import NginxRouter
from rollouts.traffic.smi import SMIRouter

__all__ = [
    "GatewayAPIRouter",
    "IstioRouter",
    "Live",
    "NginxRouter",
    "ObjectKey",
    "RouterError",
    "SMIRouter",
    "TrafficRouter",
    "Weights",
    "Write",
]
