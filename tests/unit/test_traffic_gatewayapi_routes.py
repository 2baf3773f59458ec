"""GatewayAPIRouter.sync: header routes as rules the route's annotation records; experiment
shares refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollouts.traffic.base import (
    HeaderMatch,
    HeaderRoute,
    MirrorRoute,
    RouterError,
    TrafficState,
    Weights,
)
from rollouts.traffic.gatewayapi import MANAGED_ROUTES_ANNOTATION, GatewayAPIRouter
from tests.unit.test_traffic_gatewayapi import applied, key, ref, rollout, route, split, weights

MANAGED = ("set-header-1", "set-header-2")


def header(name: str = "set-header-1", **value: str) -> HeaderRoute:
    return HeaderRoute(name, (HeaderMatch("X-Canary", **(value or {"exact": "yes"})),))


def state(canary: int = 20, *headers: HeaderRoute,
          managed: tuple[str, ...] = MANAGED) -> TrafficState:
    return TrafficState(weights(canary), header_routes=headers, managed_routes=managed)


def matched_route(*rules: dict[str, Any]) -> dict[str, Any]:
    obj = route()
    obj["spec"]["rules"] = list(rules)
    return obj


WEIGHTED = {"matches": [{"path": {"type": "PathPrefix", "value": "/shop"}}],
            "backendRefs": split()}


def rules_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = obj["spec"]["rules"]
    return rules


def test_a_header_route_is_a_rule_after_the_routes_own_sending_to_the_canary_only() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}

    [write] = router.sync(live, state(20, header()))

    assert write.patch is not None
    assert write.patch["spec"]["rules"] == [
        {"matches": WEIGHTED["matches"], "backendRefs": split(80, 20)},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/shop"},
                      "headers": [{"type": "Exact", "name": "X-Canary", "value": "yes"}]}],
         "backendRefs": [ref("shop-canary")]},
    ]
    recorded = json.loads(write.patch["metadata"]["annotations"][MANAGED_ROUTES_ANNOTATION])
    assert list(recorded) == ["set-header-1"]
    assert write.patch["metadata"]["resourceVersion"] == "5"


def test_sync_on_the_result_of_its_own_writes_writes_nothing() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    wanted = state(30, header(), header("set-header-2", prefix="beta."))

    patched = applied(live, router.sync(live, wanted))

    assert router.sync(patched, wanted) == []
    assert router.verify_weight(patched, weights(30))
    assert len(rules_of(patched[key()])) == 3


def test_the_api_servers_defaults_do_not_make_our_rule_look_changed() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    patched = applied(live, router.sync(live, state(30, header())))
    added = rules_of(patched[key()])[1]
    added["backendRefs"][0].update({"group": "", "kind": "Service", "weight": 1})

    assert router.sync(patched, state(30, header())) == []


def test_header_rules_follow_managed_routes_order() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}

    [write] = router.sync(live, state(
        0, header("set-header-1", exact="a"), header("set-header-2", exact="b"),
        managed=("set-header-2", "set-header-1")))

    assert write.patch is not None
    values = [r["matches"][0]["headers"][0]["value"] for r in write.patch["spec"]["rules"][1:]]
    assert values == ["b", "a"]


def test_a_changed_header_route_replaces_its_rule() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    before = applied(live, router.sync(live, state(20, header(exact="yes"))))

    after = applied(before, router.sync(before, state(20, header(exact="please"))))

    rules = rules_of(after[key()])
    assert len(rules) == 2
    assert rules[1]["matches"][0]["headers"][0]["value"] == "please"


def test_a_header_route_absent_from_the_state_is_removed_with_its_record() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    with_header = applied(live, router.sync(live, state(20, header())))

    [write] = router.sync(with_header, state(20))

    assert write.patch is not None
    assert write.patch["spec"]["rules"] == [
        {"matches": WEIGHTED["matches"], "backendRefs": split(80, 20)}]
    assert write.patch["metadata"]["annotations"] == {MANAGED_ROUTES_ANNOTATION: None}
    assert router.sync(applied(with_header, [write]), state(20)) == []


def test_set_weight_keeps_header_rules_and_never_weights_them() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    with_header = applied(live, router.sync(live, state(20, header())))

    [write] = router.set_weight(with_header, weights(0))

    assert write.patch is not None
    rules = write.patch["spec"]["rules"]
    assert rules[0]["backendRefs"] == split(100, 0)
    assert rules[1]["backendRefs"] == [ref("shop-canary")]
    assert "annotations" not in write.patch["metadata"]


def test_a_rule_someone_changed_is_no_longer_ours_and_is_never_removed() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    with_header = applied(live, router.sync(live, state(20, header())))
    edited = rules_of(with_header[key()])[1]
    edited["matches"][0]["path"]["value"] = "/edited"

    [write] = router.sync(with_header, state(20))

    assert write.patch is not None
    # from now on it is one of the route's own rules, weighted like them
    assert write.patch["spec"]["rules"][1] == {
        **edited, "backendRefs": [ref("shop-canary", 20)]}
    assert write.patch["metadata"]["annotations"] == {MANAGED_ROUTES_ANNOTATION: None}


def test_the_whole_weighted_match_is_kept_and_a_same_named_header_replaced() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    weighted = {"matches": [{"path": {"type": "Exact", "value": "/a"}, "method": "GET",
                             "headers": [{"name": "x-canary", "value": "old"},
                                         {"name": "x-team", "value": "t"}]},
                            {"path": {"type": "PathPrefix", "value": "/b"}}],
                "filters": [{"type": "RequestHeaderModifier",
                             "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]}}],
                "backendRefs": [ref("shop-stable", 100), {**ref("shop-canary", 0, 8080),
                                                           "namespace": "apps"}]}
    live = {key(): matched_route(weighted)}

    [write] = router.sync(live, state(20, header()))

    assert write.patch is not None
    added = write.patch["spec"]["rules"][1]
    ours = {"type": "Exact", "name": "X-Canary", "value": "yes"}
    assert added["matches"] == [
        {"path": {"type": "Exact", "value": "/a"}, "method": "GET",
         "headers": [{"name": "x-team", "value": "t"}, ours]},
        {"path": {"type": "PathPrefix", "value": "/b"}, "headers": [ours]}]
    assert added["filters"] == weighted["filters"]
    assert added["backendRefs"] == [{"name": "shop-canary", "port": 8080, "namespace": "apps"}]


@pytest.mark.parametrize(("value", "wanted"), [
    ({"exact": "a.b"}, {"type": "Exact", "value": "a.b"}),
    ({"prefix": "v1.2+"}, {"type": "RegularExpression", "value": r"^v1\.2\+.*"}),
    ({"regex": "^v[0-9]$"}, {"type": "RegularExpression", "value": "^v[0-9]$"}),
])
def test_header_match_kinds(value: dict[str, str], wanted: dict[str, str]) -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}

    [write] = router.sync(live, state(0, header(**value)))

    assert write.patch is not None
    assert write.patch["spec"]["rules"][1]["matches"][0]["headers"] == [
        {"name": "X-Canary", **wanted}]


def test_only_http_routes_with_use_header_routes_get_header_rules() -> None:
    router = GatewayAPIRouter(rollout({
        "httpRoutes": [{"name": "web", "useHeaderRoutes": True}, {"name": "api"}],
        "grpcRoute": "rpc"}))
    live = {k: route(split(), name=k.name, kind=k.kind)
            for k in (key("web"), key("api"), key("rpc", "GRPCRoute"))}

    writes = router.sync(live, state(10, header()))

    assert [len(w.patch["spec"]["rules"]) for w in writes if w.patch] == [2, 1, 1]


def test_remove_managed_routes_drops_our_rules_and_the_record() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    with_header = applied(live, router.sync(live, state(20, header())))

    [write] = router.remove_managed_routes(with_header)

    assert write.patch is not None
    assert len(write.patch["spec"]["rules"]) == 1
    assert write.patch["metadata"]["annotations"] == {MANAGED_ROUTES_ANNOTATION: None}
    assert router.remove_managed_routes(applied(with_header, [write])) == []


def test_an_unreadable_record_counts_as_no_rules_of_ours() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    obj = matched_route({"backendRefs": split(80, 20)})
    obj["metadata"]["annotations"] = {MANAGED_ROUTES_ANNOTATION: "not json"}

    assert router.sync({key(): obj}, state(20)) == []
    assert router.remove_managed_routes({key(): obj}) == []


def test_mirror_routes_are_not_carried() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): matched_route(WEIGHTED)}
    mirrored = TrafficState(weights(0), mirror_routes=(
        MirrorRoute("set-header-1", ({"method": {"exact": "GET"}},)),), managed_routes=MANAGED)

    assert not router.supports_mirror_routes
    assert router.sync(live, mirrored) == []


def test_experiment_shares_are_refused_by_name() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    shares = Weights(10, "shop-canary", "shop-stable", additional=(("shop-exp", 5, None),))

    with pytest.raises(RouterError, match="experiments with weights are not supported by "
                                          "the Gateway API router"):
        router.sync({key(): route(split())}, TrafficState(shares))
    assert not router.verify_weight({key(): route(split())}, shares)


def test_a_header_route_outside_managed_routes_is_refused() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))

    with pytest.raises(RouterError, match=r"'other' is not listed in trafficRouting"):
        router.sync({key(): route(split())}, state(0, header("other")))
