"""The SMI router: the TrafficSplit it creates and patches, as Argo Rollouts writes it."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.traffic import RouterError, Weights
from rollouts.traffic.base import TrafficState
from rollouts.traffic.smi import SMIRouter

UID = "0b6f0c8e-1111-2222-3333-444455556666"


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


def rollout(**smi: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "shop", "namespace": "prod", "uid": UID},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary",
            "stableService": "shop-stable",
            "trafficRouting": {"smi": dict(smi)},
        }}},
    }


def weights(canary: int) -> Weights:
    return Weights(canary_weight=canary, canary_service="shop-canary", stable_service="shop-stable")


def owned_split(canary: object, stable: object, *, uid: str = UID,
                version: str = "v1alpha4") -> dict[str, Any]:
    return {
        "apiVersion": f"split.smi-spec.io/{version}",
        "kind": "TrafficSplit",
        "metadata": {
            "name": "shop", "namespace": "prod", "resourceVersion": "41",
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                 "name": "shop", "uid": uid, "controller": True}],
        },
        "spec": {"service": "shop-stable", "backends": [
            {"service": "shop-canary", "weight": canary},
            {"service": "shop-stable", "weight": stable},
        ]},
    }


def test_missing_traffic_split_is_created_named_after_the_rollout_and_owned_by_it() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    assert (key.api_version, key.plural, key.namespace, key.name) == (
        "split.smi-spec.io/v1alpha4", "trafficsplits", "prod", "shop")

    (write,) = router.set_weight({key: None}, weights(20))

    assert write.patch is None and write.create is not None
    assert write.create["metadata"] == {
        "name": "shop", "namespace": "prod",
        "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                             "name": "shop", "uid": UID, "controller": True,
                             "blockOwnerDeletion": True}],
    }
    assert write.create["spec"] == {"service": "shop-stable", "backends": [
        {"service": "shop-canary", "weight": 20}, {"service": "shop-stable", "weight": 80}]}


def test_traffic_split_name_and_root_service_come_from_the_rollout_when_set() -> None:
    router = SMIRouter(rollout(trafficSplitName="shop-split", rootService="shop"))
    (key,) = router.reads()
    assert key.name == "shop-split"
    (write,) = router.set_weight({key: None}, weights(5))
    assert write.create is not None
    assert write.create["metadata"]["name"] == "shop-split"
    assert write.create["spec"]["service"] == "shop"


def test_given_a_split_at_0_100_when_set_weight_20_then_one_patch_with_20_80() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    live = owned_split(0, 100)

    (write,) = router.set_weight({key: live}, weights(20))

    assert write.create is None
    assert write.patch == {
        "metadata": {"resourceVersion": "41"},
        "spec": {"backends": [{"service": "shop-canary", "weight": 20},
                              {"service": "shop-stable", "weight": 80}]},
    }


def test_second_set_weight_on_the_patched_split_writes_nothing_and_verifies() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    live = owned_split(0, 100)
    (write,) = router.set_weight({key: live}, weights(20))
    assert write.patch is not None
    patched = apply_merge_patch(live, write.patch)

    assert router.set_weight({key: patched}, weights(20)) == []
    assert router.verify_weight({key: patched}, weights(20))
    assert not router.verify_weight({key: patched}, weights(30))


def test_verify_weight_is_false_for_a_missing_or_foreign_split() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    assert not router.verify_weight({key: None}, weights(0))
    assert not router.verify_weight({key: owned_split(20, 80, uid="someone-else")}, weights(20))


def test_backend_order_does_not_matter_but_the_root_service_does() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    live = owned_split(20, 80)
    live["spec"]["backends"].reverse()
    assert router.set_weight({key: live}, weights(20)) == []

    live["spec"]["service"] = "elsewhere"
    (write,) = router.set_weight({key: live}, weights(20))
    assert write.patch == {"spec": {"service": "shop-stable"}}


def test_split_of_that_name_not_owned_by_the_rollout_is_refused() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    foreign = owned_split(0, 100, uid="another-rollout")
    with pytest.raises(RouterError, match="TrafficSplit `shop` exists but Rollout `shop`"):
        router.set_weight({key: foreign}, weights(20))
    unowned = owned_split(0, 100)
    del unowned["metadata"]["ownerReferences"]
    with pytest.raises(RouterError, match="does not own it"):
        router.set_weight({key: unowned}, weights(20))


def test_owner_reference_that_is_not_the_controller_does_not_count() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    live = owned_split(0, 100)
    live["metadata"]["ownerReferences"][0]["controller"] = False
    with pytest.raises(RouterError):
        router.set_weight({key: live}, weights(20))


def test_v1alpha1_writes_weights_as_quantity_strings() -> None:
    router = SMIRouter(rollout(), api_version="split.smi-spec.io/v1alpha1")
    (key,) = router.reads()
    assert key.version == "v1alpha1"
    (write,) = router.set_weight({key: None}, weights(20))
    assert write.create is not None
    assert write.create["apiVersion"] == "split.smi-spec.io/v1alpha1"
    assert write.create["spec"]["backends"] == [
        {"service": "shop-canary", "weight": "20"}, {"service": "shop-stable", "weight": "80"}]


def test_v1alpha1_quantities_compare_by_value() -> None:
    router = SMIRouter(rollout(), api_version="split.smi-spec.io/v1alpha1")
    (key,) = router.reads()
    live = owned_split("20000m", "80", version="v1alpha1")
    assert router.set_weight({key: live}, weights(20)) == []
    assert router.verify_weight({key: live}, weights(20))
    (write,) = router.set_weight({key: owned_split("500m", "500m", version="v1alpha1")},
                                 weights(20))
    assert write.patch is not None
    assert write.patch["spec"]["backends"][0] == {"service": "shop-canary", "weight": "20"}


@pytest.mark.parametrize("version", ["v1alpha2", "v1alpha3", "v1alpha4"])
def test_v1alpha2_and_later_write_integer_weights(version: str) -> None:
    router = SMIRouter(rollout(), api_version=f"split.smi-spec.io/{version}")
    (key,) = router.reads()
    (write,) = router.set_weight({key: None}, weights(100))
    assert write.create is not None
    assert write.create["apiVersion"] == f"split.smi-spec.io/{version}"
    assert [b["weight"] for b in write.create["spec"]["backends"]] == [100, 0]


def test_unknown_api_version_is_refused() -> None:
    with pytest.raises(RouterError, match="v1beta1"):
        SMIRouter(rollout(), api_version="split.smi-spec.io/v1beta1")


def test_rollout_without_smi_or_without_uid_is_refused() -> None:
    bare = rollout()
    del bare["spec"]["strategy"]["canary"]["trafficRouting"]["smi"]
    with pytest.raises(RouterError, match=r"trafficRouting\.smi"):
        SMIRouter(bare)
    no_uid = rollout()
    del no_uid["metadata"]["uid"]
    router = SMIRouter(no_uid)
    (key,) = router.reads()
    with pytest.raises(RouterError, match=r"metadata\.uid"):
        router.set_weight({key: None}, weights(20))


def test_smi_has_no_managed_routes_to_remove() -> None:
    router = SMIRouter(rollout())
    assert router.name == "smi"
    assert router.remove_managed_routes({}) == []


def test_experiment_shares_become_backends_taken_from_the_stables_share() -> None:
    router = SMIRouter(rollout())
    (key,) = router.reads()
    shares = Weights(canary_weight=10, canary_service="shop-canary",
                     stable_service="shop-stable",
                     additional=(("shop-exp-a", 5, "a1"), ("shop-exp-b", 15, None)))
    live = owned_split(0, 100)

    (write,) = router.sync({key: live}, TrafficState(shares))

    assert write.patch is not None
    assert write.patch["spec"]["backends"] == [
        {"service": "shop-canary", "weight": 10}, {"service": "shop-stable", "weight": 70},
        {"service": "shop-exp-a", "weight": 5}, {"service": "shop-exp-b", "weight": 15}]
    patched = apply_merge_patch(live, write.patch)
    assert router.sync({key: patched}, TrafficState(shares)) == []
    assert router.verify_weight({key: patched}, shares)
    assert not router.verify_weight({key: patched}, weights(10))
    # the experiment ends: its backends go
    (ended,) = router.set_weight({key: patched}, weights(10))
    assert ended.patch is not None
    assert [b["service"] for b in ended.patch["spec"]["backends"]] == [
        "shop-canary", "shop-stable"]


def test_smi_carries_no_header_or_mirror_routes() -> None:
    router = SMIRouter(rollout())
    assert not router.supports_header_routes and not router.supports_mirror_routes
