"""The SMI router: one TrafficSplit, owned by the Rollout, whose backends carry the weight.

Argo Rollouts' behaviour, which this follows (`trafficRouting.smi`):

- The TrafficSplit is named `trafficSplitName`, or after the Rollout when that is empty.
- Its root service (`spec.service`) is `rootService`, or the canary's `stableService`.
- Its backends are the canary Service with the canary weight, then the stable Service
  with the rest (weights are out of 100), then one backend per experiment Service with
  its share (`Weights.additional`, taken from the stable's), as Argo adds them.
- SMI has no header or mirror routes: `sync` carries the weights only.
- It is created when missing, with the Rollout as its controller owner; an existing one
  is changed only when it differs, and only when this Rollout controls it (a TrafficSplit
  of that name owned by anything else is refused, as Argo refuses it).
- The served API version decides the weight's type: `v1alpha1` weights are Kubernetes
  quantities (written as the string "20"), `v1alpha2` and later plain integers. The
  backend shape (`service`, `weight`) is the same in every version.

Argo's SMI router never verifies weights (its VerifyWeight answers "unknown"); ours
reads the backends back. Pure: no client, see `rollouts.traffic.base`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rollouts.api.errors import SpecError
from rollouts.api.quantity import parse_quantity
from rollouts.core.owner import controlled_by, owner_reference
from rollouts.traffic.base import Live, ObjectKey, RouterError, TrafficState, Weights, Write

__all__ = ["SMI_GROUP", "SMI_VERSIONS", "SMIRouter"]

SMI_GROUP = "split.smi-spec.io"
SMI_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
_QUANTITY_WEIGHTS = frozenset({"v1alpha1"})


class SMIRouter:
    """Sets the canary weight on the Rollout's SMI TrafficSplit."""

    def __init__(
        self, rollout: dict[str, Any], *, api_version: str = f"{SMI_GROUP}/v1alpha4"
    ) -> None:
        group, _, version = api_version.partition("/")
        if group != SMI_GROUP or version not in SMI_VERSIONS:
            raise RouterError(
                f"TrafficSplit API version `{api_version}` is not supported: "
                f"use one of {', '.join(f'{SMI_GROUP}/{v}' for v in SMI_VERSIONS)}"
            )
        metadata = rollout.get("metadata") or {}
        canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
        smi = (canary.get("trafficRouting") or {}).get("smi")
        self._rollout_name: str = metadata.get("name") or ""
        if smi is None:
            raise RouterError(
                f"Rollout `{self._rollout_name}` has no spec.strategy.canary.trafficRouting.smi"
            )
        self._uid: str | None = metadata.get("uid")
        self._owner_reference = owner_reference(rollout)
        self._version = version
        self._split_name: str = smi.get("trafficSplitName") or self._rollout_name
        self._root_service: str | None = smi.get("rootService") or canary.get("stableService")
        self._key = ObjectKey(
            group=SMI_GROUP, version=version, plural="trafficsplits", kind="TrafficSplit",
            namespace=metadata.get("namespace"), name=self._split_name,
        )

    @property
    def name(self) -> str:
        return "smi"

    @property
    def key(self) -> ObjectKey:
        """The TrafficSplit this router manages."""
        return self._key

    def reads(self) -> list[ObjectKey]:
        return [self._key]

    def set_weight(self, live: Live, weights: Weights) -> list[Write]:
        if weights.stable_weight < 0:
            raise RouterError(f"the canary ({weights.canary_weight}) and experiment weights "
                              "add up to more than 100")
        current = live.get(self._key)
        wanted = self._spec(weights)
        if current is None:
            manifest = {
                "apiVersion": self._key.api_version,
                "kind": "TrafficSplit",
                "metadata": self._metadata(),
                "spec": wanted,
            }
            return [Write(key=self._key, create=manifest, reason=self._reason("created", weights))]
        self._check_owned(current)
        spec = current.get("spec") or {}
        patch_spec: dict[str, Any] = {}
        if spec.get("service") != wanted["service"]:
            patch_spec["service"] = wanted["service"]
        if not _same_backends(spec.get("backends"), wanted["backends"]):
            patch_spec["backends"] = wanted["backends"]
        if not patch_spec:
            return []
        patch: dict[str, Any] = {"spec": patch_spec}
        version = (current.get("metadata") or {}).get("resourceVersion")
        if "backends" in patch_spec and version:
            patch["metadata"] = {"resourceVersion": version}
        return [Write(key=self._key, patch=patch, reason=self._reason("modified", weights))]

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        current = live.get(self._key)
        if current is None or not self._owned(current) or weights.stable_weight < 0:
            return False
        backends = (current.get("spec") or {}).get("backends")
        return _same_backends(backends, self._spec(weights)["backends"])

    def remove_managed_routes(self, live: Live) -> list[Write]:
        return []  # SMI has no header or mirror routes

    @property
    def supports_header_routes(self) -> bool:
        return False

    @property
    def supports_mirror_routes(self) -> bool:
        return False

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        return self.set_weight(live, state.weights)

    # -- helpers --------------------------------------------------------------------

    def _spec(self, weights: Weights) -> dict[str, Any]:
        return {
            "service": self._root_service or weights.stable_service,
            "backends": [
                {"service": weights.canary_service, "weight": self._weight(weights.canary_weight)},
                {"service": weights.stable_service, "weight": self._weight(weights.stable_weight)},
                *({"service": service, "weight": self._weight(weight)}
                  for service, weight, _ in weights.additional),
            ],
        }

    def _weight(self, value: int) -> int | str:
        return str(value) if self._version in _QUANTITY_WEIGHTS else value

    def _metadata(self) -> dict[str, Any]:
        if not self._uid:
            raise RouterError(
                f"Rollout `{self._rollout_name}` has no metadata.uid: the TrafficSplit "
                "needs it as its owner (build the router from the object the API server returned)"
            )
        metadata: dict[str, Any] = {
            "name": self._split_name,
            "ownerReferences": [dict(self._owner_reference)],
        }
        if self._key.namespace:
            metadata["namespace"] = self._key.namespace
        return metadata

    def _owned(self, obj: dict[str, Any]) -> bool:
        return controlled_by(obj, self._uid)

    def _check_owned(self, obj: dict[str, Any]) -> None:
        if not self._owned(obj):
            raise RouterError(
                f"TrafficSplit `{self._split_name}` exists but Rollout `{self._rollout_name}` "
                "does not own it: delete it, or name another in trafficRouting.smi.trafficSplitName"
            )

    def _reason(self, verb: str, weights: Weights) -> str:
        return (
            f"TrafficSplit `{self._split_name}` {verb}: canary weight {weights.canary_weight}"
        )


def _backend_weights(backends: object) -> dict[str, Decimal] | None:
    """Service -> numeric weight; None when the list is malformed or names a Service twice."""
    if not isinstance(backends, list):
        return None
    result: dict[str, Decimal] = {}
    for backend in backends:
        if not isinstance(backend, dict) or not isinstance(backend.get("service"), str):
            return None
        if backend["service"] in result:
            return None
        try:
            result[backend["service"]] = parse_quantity(backend.get("weight"))
        except SpecError:
            return None
    return result


def _same_backends(current: object, wanted: list[dict[str, Any]]) -> bool:
    """Whether the live backends send the same weight to the same Services (order aside;
    `"20"`, `20` and `20000m` are the same weight)."""
    have = _backend_weights(current)
    want = _backend_weights(wanted)
    return have is not None and have == want
