"""The NGINX Ingress router: a canary Ingress per stable Ingress, carrying the canary weight.

Argo Rollouts' behaviour, which this follows (`trafficRouting.nginx`):

- `stableIngress` (or the list `stableIngresses`, never both) names Ingresses
  (networking.k8s.io/v1) in the Rollout's namespace that route to `stableService`.
- For each, the canary Ingress `<rollout>-<stableIngress>-canary` (the part before
  `-canary` cut to fit 253 characters) is a copy of the stable one holding only its rules
  with a path to `stableService`, those backends pointed at `canaryService`; its TLS,
  `spec.ingressClassName` and `kubernetes.io/ingress.class` annotation are kept, no other
  annotation of the stable Ingress is (so none of its own canary annotations).
  No such path is an error naming the Ingress and the Service.
- Annotations: `additionalIngressAnnotations` (under `annotationPrefix`, default
  `nginx.ingress.kubernetes.io`, unless a key already starts with it), then
  `canaryIngressAnnotations` as given, then `<prefix>/canary: "true"` and
  `<prefix>/canary-weight: "<W>"`, which always win.
- The canary Ingress is owned (controller) by the Rollout; it is created when missing,
  patched where its annotations or spec differ (stray annotations are removed, as Argo's
  patch does), and one controlled by anything else is refused. Labels are left alone
  (Argo's patch would strip them; nothing of ours sets any).

No header or mirror routes (Argo's nginx router answers both with a no-op; header
routing there is the user's own `canary-by-header` annotation), so `sync` carries the
weight only. No experiment shares either: one canary Ingress cannot split among several
Services. Argo's nginx router silently drops `additionalDestinations`, leaving the
experiment without traffic; a non-empty `Weights.additional` is refused here instead.

Not done: `canary-weight-total` (Argo writes it only with `maxTrafficWeight`), and the
legacy extensions/v1beta1 Ingress. Pure: no client, see `rollouts.traffic.base`.
"""

from __future__ import annotations

import copy
from typing import Any

from rollouts.core.owner import controlled_by, owner_reference
from rollouts.traffic.base import Live, ObjectKey, RouterError, TrafficState, Weights, Write

__all__ = ["DEFAULT_ANNOTATION_PREFIX", "NginxRouter", "canary_ingress_name"]

DEFAULT_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
_CANARY_SUFFIX = "-canary"
_MAX_NAME = 253


def canary_ingress_name(rollout: str, stable_ingress: str) -> str:
    """Argo's name for the canary copy of `stable_ingress`."""
    prefix = f"{rollout}-{stable_ingress}"[: _MAX_NAME - len(_CANARY_SUFFIX)]
    return prefix + _CANARY_SUFFIX


class NginxRouter:
    """Sets the canary weight through canary Ingresses cloned from the stable ones."""

    def __init__(self, rollout: dict[str, Any]) -> None:
        metadata = rollout.get("metadata") or {}
        canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
        nginx = (canary.get("trafficRouting") or {}).get("nginx")
        self._rollout_name: str = metadata.get("name") or ""
        if nginx is None:
            raise RouterError(
                f"Rollout `{self._rollout_name}` has no spec.strategy.canary.trafficRouting.nginx"
            )
        single, several = nginx.get("stableIngress"), nginx.get("stableIngresses")
        if single and several:
            raise RouterError(
                "trafficRouting.nginx: set stableIngress or stableIngresses, not both"
            )
        stable_names: list[str] = list(several) if several else [single] if single else []
        if not stable_names:
            raise RouterError("trafficRouting.nginx: set stableIngress (or stableIngresses)")
        self._uid: str | None = metadata.get("uid")
        self._owner_reference = owner_reference(rollout)
        self._namespace: str | None = metadata.get("namespace")
        self._stable_service: str | None = canary.get("stableService")
        self._prefix: str = nginx.get("annotationPrefix") or DEFAULT_ANNOTATION_PREFIX
        self._additional: dict[str, str] = dict(nginx.get("additionalIngressAnnotations") or {})
        self._extra: dict[str, str] = dict(nginx.get("canaryIngressAnnotations") or {})
        self._pairs = [
            (
                self._ingress_key(name),
                self._ingress_key(canary_ingress_name(self._rollout_name, name)),
            )
            for name in stable_names
        ]

    @property
    def name(self) -> str:
        return "nginx"

    def reads(self) -> list[ObjectKey]:
        return [key for pair in self._pairs for key in pair]

    def canary_keys(self) -> list[ObjectKey]:
        """The canary Ingresses this router manages."""
        return [canary for _, canary in self._pairs]

    def set_weight(self, live: Live, weights: Weights) -> list[Write]:
        if weights.additional:
            raise RouterError(
                "experiments with weights are not supported by the nginx router: "
                "drop `weight` from the experiment step's templates")
        writes: list[Write] = []
        for stable_key, canary_key in self._pairs:
            stable = live.get(stable_key)
            if stable is None:
                raise RouterError(
                    f"stable Ingress `{stable_key.name}` not found in namespace "
                    f"`{stable_key.namespace}`: create it or fix trafficRouting.nginx"
                )
            wanted = self._canary_ingress(stable, canary_key, weights)
            current = live.get(canary_key)
            reason = f"canary Ingress `{canary_key.name}`: canary weight {weights.canary_weight}"
            if current is None:
                writes.append(Write(key=canary_key, create=wanted, reason=reason))
                continue
            if not self._owned(current):
                raise RouterError(
                    f"canary Ingress `{canary_key.name}` exists but Rollout "
                    f"`{self._rollout_name}` does not control it: delete it"
                )
            patch = _patch(current, wanted)
            if patch:
                writes.append(Write(key=canary_key, patch=patch, reason=reason))
        return writes

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        if weights.additional:
            return False
        for _, canary_key in self._pairs:
            current = live.get(canary_key)
            if current is None or not self._owned(current):
                return False
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            if annotations.get(f"{self._prefix}/canary") != "true":
                return False
            if annotations.get(f"{self._prefix}/canary-weight") != str(weights.canary_weight):
                return False
            if weights.canary_service not in _backend_services(current):
                return False
        return True

    def remove_managed_routes(self, live: Live) -> list[Write]:
        return []  # Argo's nginx router has no header or mirror routes

    @property
    def supports_header_routes(self) -> bool:
        return False

    @property
    def supports_mirror_routes(self) -> bool:
        return False

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        return self.set_weight(live, state.weights)

    # -- helpers --------------------------------------------------------------------

    def _ingress_key(self, name: str) -> ObjectKey:
        return ObjectKey(
            group="networking.k8s.io", version="v1", plural="ingresses", kind="Ingress",
            namespace=self._namespace, name=name,
        )

    def _canary_ingress(
        self, stable: dict[str, Any], key: ObjectKey, weights: Weights
    ) -> dict[str, Any]:
        stable_service = self._stable_service or weights.stable_service
        stable_spec = stable.get("spec") or {}
        rules = []
        for rule in stable_spec.get("rules") or []:
            rule = copy.deepcopy(rule)
            moved = False
            for path in (rule.get("http") or {}).get("paths") or []:
                service = (path.get("backend") or {}).get("service") or {}
                if service.get("name") == stable_service:
                    service["name"] = weights.canary_service
                    moved = True
            if moved:
                rules.append(rule)
        if not rules:
            raise RouterError(
                f"stable Ingress `{_name_of(stable)}` has no path to Service `{stable_service}`: "
                "add one, the canary Ingress copies those paths"
            )
        spec: dict[str, Any] = {"rules": rules}
        if stable_spec.get("tls") is not None:
            spec["tls"] = copy.deepcopy(stable_spec["tls"])
        if stable_spec.get("ingressClassName") is not None:
            spec["ingressClassName"] = stable_spec["ingressClassName"]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": self._metadata(key, stable, weights),
            "spec": spec,
        }

    def _metadata(
        self, key: ObjectKey, stable: dict[str, Any], weights: Weights
    ) -> dict[str, Any]:
        if not self._uid:
            raise RouterError(
                f"Rollout `{self._rollout_name}` has no metadata.uid: the canary Ingress needs "
                "it as its owner (build the router from the object the API server returned)"
            )
        annotations: dict[str, str] = {}
        ingress_class = ((stable.get("metadata") or {}).get("annotations") or {}).get(
            INGRESS_CLASS_ANNOTATION
        )
        if ingress_class is not None:
            annotations[INGRESS_CLASS_ANNOTATION] = ingress_class
        for name, value in self._additional.items():
            annotations[name if name.startswith(self._prefix) else f"{self._prefix}/{name}"] = value
        annotations.update(self._extra)
        annotations[f"{self._prefix}/canary"] = "true"
        annotations[f"{self._prefix}/canary-weight"] = str(weights.canary_weight)
        metadata: dict[str, Any] = {
            "name": key.name,
            "annotations": annotations,
            "ownerReferences": [dict(self._owner_reference)],
        }
        if key.namespace:
            metadata["namespace"] = key.namespace
        return metadata

    def _owned(self, obj: dict[str, Any]) -> bool:
        return controlled_by(obj, self._uid)


def _name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _backend_services(ingress: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            name = ((path.get("backend") or {}).get("service") or {}).get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def _patch(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch taking the live canary Ingress's annotations and spec to the
    wanted ones (empty when they agree); it carries the resourceVersion when it replaces
    a list (rules, tls)."""
    patch: dict[str, Any] = {}
    have_notes = (current.get("metadata") or {}).get("annotations") or {}
    want_notes = wanted["metadata"]["annotations"]
    notes = {k: v for k, v in want_notes.items() if have_notes.get(k) != v}
    notes.update({k: None for k in have_notes if k not in want_notes})
    if notes:
        patch["metadata"] = {"annotations": notes}
    have_spec = current.get("spec") or {}
    spec = {
        k: wanted["spec"].get(k)
        for k in sorted(set(have_spec) | set(wanted["spec"]))
        if have_spec.get(k) != wanted["spec"].get(k)
    }
    if spec:
        patch["spec"] = spec
        version = (current.get("metadata") or {}).get("resourceVersion")
        if version and any(isinstance(v, list) for v in spec.values()):
            patch.setdefault("metadata", {})["resourceVersion"] = version
    return patch
