"""The NGINX router: the canary Ingress it clones from the stable one, as Argo Rollouts does."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.traffic import ObjectKey, RouterError, Weights
from rollouts.traffic.base import TrafficState
from rollouts.traffic.nginx import NginxRouter, canary_ingress_name

UID = "9d1c2b3a-aaaa-bbbb-cccc-ddddeeeeffff"


def apply_merge_patch(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386, as the API server applies a merge patch."""
    result = dict(doc)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = apply_merge_patch(result[key], value)
        else:
            result[key] = value
    return result


def rollout(**nginx: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "shop", "namespace": "prod", "uid": UID},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary",
            "stableService": "shop-stable",
            "trafficRouting": {"nginx": nginx or {"stableIngress": "shop-ingress"}},
        }}},
    }


def weights(canary: int) -> Weights:
    return Weights(canary_weight=canary, canary_service="shop-canary", stable_service="shop-stable")


def path(service: str, prefix: str = "/") -> dict[str, Any]:
    return {"path": prefix, "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": 80}}}}


def stable_ingress(name: str = "shop-ingress") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name, "namespace": "prod", "resourceVersion": "7",
            "annotations": {
                "kubernetes.io/ingress.class": "nginx",
                "nginx.ingress.kubernetes.io/rewrite-target": "/",
                "nginx.ingress.kubernetes.io/canary": "false",
                "nginx.ingress.kubernetes.io/canary-weight": "50",
            },
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}],
            "rules": [
                {"host": "shop.example",
                 "http": {"paths": [path("shop-stable"), path("shop-admin", "/admin")]}},
                {"host": "other.example", "http": {"paths": [path("other")]}},
            ],
        },
    }


def keys(router: NginxRouter) -> tuple[ObjectKey, ObjectKey]:
    stable, canary = router.reads()
    return stable, canary


def created(router: NginxRouter, canary: int = 20) -> Any:
    stable_key, canary_key = keys(router)
    (write,) = router.set_weight({stable_key: stable_ingress(), canary_key: None}, weights(canary))
    assert write.patch is None and write.create is not None
    return write.create


def test_reads_the_stable_ingress_and_argos_canary_ingress_name() -> None:
    stable, canary = keys(NginxRouter(rollout()))
    assert (stable.api_version, stable.plural, stable.namespace, stable.name) == (
        "networking.k8s.io/v1", "ingresses", "prod", "shop-ingress")
    assert canary.name == "shop-shop-ingress-canary"
    assert canary.namespace == "prod"


def test_canary_ingress_name_is_cut_to_fit_253_characters() -> None:
    name = canary_ingress_name("r" * 200, "i" * 100)
    assert len(name) == 253
    assert name.endswith("-canary")


def test_missing_canary_ingress_is_cloned_from_the_stable_one_with_the_canary_backend() -> None:
    ingress = created(NginxRouter(rollout()))

    assert ingress["metadata"]["name"] == "shop-shop-ingress-canary"
    assert ingress["metadata"]["namespace"] == "prod"
    assert ingress["metadata"]["ownerReferences"] == [{
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "shop", "uid": UID,
        "controller": True, "blockOwnerDeletion": True}]
    # only the rule that reaches the stable Service, with that backend moved to the canary
    assert ingress["spec"]["rules"] == [
        {"host": "shop.example",
         "http": {"paths": [path("shop-canary"), path("shop-admin", "/admin")]}}]
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example"], "secretName": "shop-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_canary_ingress_keeps_only_the_ingress_class_of_the_stable_annotations() -> None:
    ingress = created(NginxRouter(rollout()), canary=20)
    assert ingress["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "nginx",
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "20",
    }


def test_stable_ingress_is_not_modified_by_cloning() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    stable = stable_ingress()
    router.set_weight({stable_key: stable, canary_key: None}, weights(20))
    assert stable == stable_ingress()


def test_annotation_prefix_and_extra_annotations() -> None:
    router = NginxRouter(rollout(
        stableIngress="shop-ingress",
        annotationPrefix="custom.nginx.example",
        additionalIngressAnnotations={"canary-by-header": "X-Canary",
                                      "custom.nginx.example/canary-by-cookie": "beta",
                                      "canary-weight": "99"},
        canaryIngressAnnotations={"team.example/owner": "shop"},
    ))
    annotations = created(router, canary=5)["metadata"]["annotations"]
    assert annotations == {
        "kubernetes.io/ingress.class": "nginx",
        "custom.nginx.example/canary-by-header": "X-Canary",
        "custom.nginx.example/canary-by-cookie": "beta",
        "team.example/owner": "shop",
        "custom.nginx.example/canary": "true",
        "custom.nginx.example/canary-weight": "5",  # always wins over the extra ones
    }


def test_given_canary_ingress_at_0_when_set_weight_20_then_one_patch_of_the_weight() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    live = created(router, canary=0)
    live["metadata"]["resourceVersion"] = "12"

    (write,) = router.set_weight({stable_key: stable_ingress(), canary_key: live}, weights(20))

    assert write.create is None
    assert write.patch == {
        "metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "20"}}}


def test_second_set_weight_on_the_patched_ingress_writes_nothing_and_verifies() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    live = created(router, canary=0)
    (write,) = router.set_weight({stable_key: stable_ingress(), canary_key: live}, weights(20))
    assert write.patch is not None
    patched = apply_merge_patch(live, write.patch)
    state = {stable_key: stable_ingress(), canary_key: patched}

    assert router.set_weight(state, weights(20)) == []
    assert router.verify_weight(state, weights(20))
    assert not router.verify_weight(state, weights(0))
    assert not router.verify_weight({stable_key: stable_ingress(), canary_key: None}, weights(0))


def test_stray_annotations_are_removed_and_changed_rules_replaced_with_resource_version() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    live = created(router, canary=20)
    live["metadata"]["resourceVersion"] = "12"
    live["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-header"] = "X-Old"
    live["metadata"]["labels"] = {"team": "shop"}
    live["spec"]["rules"] = [{"host": "old.example", "http": {"paths": [path("shop-canary")]}}]

    (write,) = router.set_weight({stable_key: stable_ingress(), canary_key: live}, weights(20))

    assert write.patch is not None
    assert write.patch["metadata"] == {
        "annotations": {"nginx.ingress.kubernetes.io/canary-by-header": None},
        "resourceVersion": "12",
    }
    assert write.patch["spec"] == {"rules": created(router)["spec"]["rules"]}
    assert "labels" not in write.patch["metadata"]  # labels are left alone


def test_missing_stable_ingress_is_an_error_naming_it() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    with pytest.raises(RouterError, match="stable Ingress `shop-ingress` not found"):
        router.set_weight({stable_key: None, canary_key: None}, weights(20))


def test_stable_ingress_without_a_path_to_the_stable_service_is_refused() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    stable = stable_ingress()
    stable["spec"]["rules"] = [{"host": "other.example", "http": {"paths": [path("other")]}}]
    with pytest.raises(RouterError, match="`shop-ingress` has no path to Service `shop-stable`"):
        router.set_weight({stable_key: stable, canary_key: None}, weights(20))


def test_canary_ingress_controlled_by_something_else_is_refused() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    foreign = created(router)
    foreign["metadata"]["ownerReferences"][0]["uid"] = "other"
    with pytest.raises(RouterError, match="does not control it"):
        router.set_weight({stable_key: stable_ingress(), canary_key: foreign}, weights(20))
    assert not router.verify_weight({stable_key: stable_ingress(), canary_key: foreign},
                                    weights(20))


def test_several_stable_ingresses_get_one_canary_ingress_each() -> None:
    router = NginxRouter(rollout(stableIngresses=["shop-ingress", "shop-internal"]))
    reads = router.reads()
    assert [k.name for k in reads] == [
        "shop-ingress", "shop-shop-ingress-canary", "shop-internal", "shop-shop-internal-canary"]
    live = {reads[0]: stable_ingress(), reads[1]: None,
            reads[2]: stable_ingress("shop-internal"), reads[3]: None}
    writes = router.set_weight(live, weights(30))
    assert [w.key.name for w in writes] == ["shop-shop-ingress-canary", "shop-shop-internal-canary"]
    assert all(w.create is not None for w in writes)


def test_stable_ingress_configuration_mistakes_are_refused() -> None:
    with pytest.raises(RouterError, match="not both"):
        NginxRouter(rollout(stableIngress="a", stableIngresses=["b"]))
    with pytest.raises(RouterError, match="set stableIngress"):
        NginxRouter(rollout(annotationPrefix="x"))
    bare = rollout()
    del bare["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"]
    with pytest.raises(RouterError, match=r"trafficRouting\.nginx"):
        NginxRouter(bare)


def test_ingress_class_name_absent_on_the_stable_ingress_stays_absent() -> None:
    router = NginxRouter(rollout())
    stable_key, canary_key = keys(router)
    stable = stable_ingress()
    del stable["spec"]["ingressClassName"], stable["spec"]["tls"]
    (write,) = router.set_weight({stable_key: stable, canary_key: None}, weights(20))
    assert write.create is not None
    assert set(write.create["spec"]) == {"rules"}


def test_nginx_has_no_managed_routes_to_remove() -> None:
    router = NginxRouter(rollout())
    assert router.name == "nginx"
    assert router.remove_managed_routes({}) == []


def test_nginx_carries_no_header_or_mirror_routes_and_refuses_experiment_shares() -> None:
    router = NginxRouter(rollout())
    live = {key: None for key in router.reads()}
    shares = Weights(canary_weight=10, canary_service="shop-canary",
                     stable_service="shop-stable", additional=(("shop-exp", 5, None),))

    assert not router.supports_header_routes and not router.supports_mirror_routes
    with pytest.raises(RouterError, match="not supported by the nginx router"):
        router.sync(live, TrafficState(shares))
    assert not router.verify_weight(live, shares)
