"""IstioRouter.sync: header and mirror routes (Argo's managed routes) and experiment shares."""

from __future__ import annotations

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
from rollouts.traffic.istio import IstioRouter
from tests.unit.test_traffic_istio import (
    DR_KEY,
    HOST_SPLIT,
    SUBSET_SPLIT,
    applied,
    dest,
    destination_rule,
    primary,
    rollout,
    subset_route,
    virtual_service,
    vs_key,
    weights,
)

MANAGED = ("set-header-1", "mirror-1")


def managed_rollout(istio: dict[str, Any] | None = None) -> dict[str, Any]:
    return rollout({}, trafficRouting={
        "istio": istio or HOST_SPLIT,
        "managedRoutes": [{"name": n} for n in MANAGED]})


def header(name: str = "set-header-1", **value: str) -> HeaderRoute:
    return HeaderRoute(name, (HeaderMatch("x-canary", **(value or {"exact": "yes"})),))


def state(canary: int = 20, *routes: HeaderRoute | MirrorRoute,
          managed: tuple[str, ...] = MANAGED) -> TrafficState:
    return TrafficState(
        weights(canary),
        header_routes=tuple(r for r in routes if isinstance(r, HeaderRoute)),
        mirror_routes=tuple(r for r in routes if isinstance(r, MirrorRoute)),
        managed_routes=managed)


def header_route(name: str = "set-header-1", **value: str) -> dict[str, Any]:
    return {"name": name, "match": [{"headers": {"x-canary": value or {"exact": "yes"}}}],
            "route": [{"destination": {"host": "shop-canary"}, "weight": 100}]}


def test_a_header_route_goes_on_top_with_the_canary_weight_in_the_same_write() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}

    [write] = router.sync(live, state(20, header()))

    assert write.patch == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"http": [header_route(), primary(80, 20)]},
    }


def test_sync_on_the_result_of_its_own_writes_writes_nothing() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([{"name": "admin", "route": [dest("admin", 100)]},
                                       primary()])}
    mirror = MirrorRoute("mirror-1", ({"method": {"exact": "GET"}},), 50)
    wanted = state(30, header(), mirror)

    patched = applied(live, router.sync(live, wanted))

    assert router.sync(patched, wanted) == []
    assert [r.get("name") for r in patched[vs_key()]["spec"]["http"]] == [
        "set-header-1", "mirror-1", "admin", "primary"]
    assert router.verify_weight(patched, weights(30))


def test_managed_routes_are_ordered_by_managed_routes_not_by_the_state() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}
    mirror = MirrorRoute("mirror-1", ({"path": {"prefix": "/api"}},))

    [write] = router.sync(live, TrafficState(
        weights(20), header_routes=(header(),), mirror_routes=(mirror,),
        managed_routes=("mirror-1", "set-header-1")))

    assert write.patch is not None
    assert [r["name"] for r in write.patch["spec"]["http"]] == [
        "mirror-1", "set-header-1", "primary"]


def test_a_changed_header_route_replaces_the_old_one_in_place() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([header_route(), primary(80, 20)])}

    [write] = router.sync(live, state(20, header(prefix="be")))

    assert write.patch is not None
    assert write.patch["spec"]["http"] == [header_route(prefix="be"), primary(80, 20)]


def test_a_managed_route_absent_from_the_state_is_removed() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([header_route(), primary(80, 20)])}

    [write] = router.sync(live, state(20))

    assert write.patch is not None
    assert write.patch["spec"]["http"] == [primary(80, 20)]
    assert router.sync(applied(live, [write]), state(20)) == []


def test_a_header_route_with_no_match_is_removed_as_argo_does() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([header_route(), primary(80, 20)])}

    [write] = router.sync(live, state(20, HeaderRoute("set-header-1", ())))

    assert write.patch is not None
    assert [r["name"] for r in write.patch["spec"]["http"]] == ["primary"]


def test_set_weight_leaves_managed_routes_where_they_are() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([header_route(), primary(100, 0)])}

    [write] = router.set_weight(live, weights(40))

    assert write.patch is not None
    assert write.patch["spec"]["http"] == [header_route(), primary(60, 40)]


def test_a_header_route_takes_the_canary_destinations_host_subset_and_port() -> None:
    router = IstioRouter(managed_rollout(SUBSET_SPLIT))
    route = subset_route()
    for item in route["route"]:
        item["destination"]["port"] = {"number": 8080}
    live = {vs_key(): virtual_service([route]), DR_KEY: destination_rule("c", "s", True)}

    [_, write] = router.sync(live, state(10, header()))

    assert write.key == vs_key() and write.patch is not None
    added = write.patch["spec"]["http"][0]
    assert added["route"] == [{"destination": {"host": "shop", "subset": "canary",
                                               "port": {"number": 8080}}, "weight": 100}]


def test_each_header_gets_its_own_match_block_as_argo_writes_them() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}
    route = HeaderRoute("set-header-1", (HeaderMatch("x-a", exact="1"),
                                         HeaderMatch("x-b", regex="^v[0-9]+$")))

    [write] = router.sync(live, state(0, route))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0]["match"] == [
        {"headers": {"x-a": {"exact": "1"}}}, {"headers": {"x-b": {"regex": "^v[0-9]+$"}}}]


def test_a_mirror_route_keeps_the_weighted_split_and_mirrors_to_the_canary() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}
    mirror = MirrorRoute("mirror-1", (
        {"method": {"exact": "POST"}, "path": {"prefix": "/api"},
         "headers": {"x-debug": {"exact": "1"}}},
        {"method": {"exact": "GET"}}), percentage=30)

    [write] = router.sync(live, state(20, mirror))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0] == {
        "name": "mirror-1",
        "match": [{"method": {"exact": "POST"}, "uri": {"prefix": "/api"},
                   "headers": {"x-debug": {"exact": "1"}}},
                  {"method": {"exact": "GET"}}],
        "route": [dest("shop-stable", 80), dest("shop-canary", 20)],
        "mirror": {"host": "shop-canary"},
        "mirrorPercentage": {"value": 30},
    }


def test_the_mirror_routes_split_follows_the_weight() -> None:
    router = IstioRouter(managed_rollout())
    mirror = MirrorRoute("mirror-1", ({"method": {"exact": "GET"}},))
    live = {vs_key(): virtual_service([primary()])}
    at_20 = applied(live, router.sync(live, state(20, mirror)))

    [write] = router.sync(at_20, state(50, mirror))

    assert write.patch is not None
    mirrored, weighted = write.patch["spec"]["http"]
    assert mirrored["route"] == weighted["route"] == [dest("shop-stable", 50),
                                                      dest("shop-canary", 50)]


def test_without_routes_a_managed_route_is_never_picked_as_the_weighted_one() -> None:
    router = IstioRouter(rollout({}, trafficRouting={
        "istio": {"virtualService": {"name": "shop-vsvc"}},
        "managedRoutes": [{"name": "set-header-1"}]}))
    live = {vs_key(): virtual_service([header_route(), {"route": primary()["route"]}])}

    [write] = router.sync(live, state(30, header(), managed=("set-header-1",)))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0] == header_route()
    assert [d["weight"] for d in write.patch["spec"]["http"][1]["route"]] == [70, 30]


def test_every_virtual_service_gets_the_header_route() -> None:
    router = IstioRouter(rollout({}, trafficRouting={
        "istio": {"virtualServices": [{"name": "shop-vsvc", "routes": ["primary"]},
                                      {"name": "edge-vsvc", "routes": ["primary"]}]},
        "managedRoutes": [{"name": "set-header-1"}]}))
    live = {vs_key(): virtual_service([primary()]),
            vs_key("edge-vsvc"): virtual_service([primary()])}

    writes = router.sync(live, state(0, header(), managed=("set-header-1",)))

    assert [w.key.name for w in writes] == ["shop-vsvc", "edge-vsvc"]
    assert all(w.patch and w.patch["spec"]["http"][0] == header_route() for w in writes)


def test_remove_managed_routes_drops_every_route_named_in_managed_routes() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([header_route(), primary(80, 20)])}

    [write] = router.remove_managed_routes(live)

    assert write.patch == {"metadata": {"resourceVersion": "7"},
                           "spec": {"http": [primary(80, 20)]}}
    assert router.remove_managed_routes(applied(live, [write])) == []


def test_a_route_outside_managed_routes_is_refused() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}

    with pytest.raises(RouterError, match=r"route 'other' is not listed in "
                                          r"trafficRouting.managedRoutes"):
        router.sync(live, state(10, header("other")))


def test_a_header_match_without_a_value_is_refused() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}
    route = HeaderRoute("set-header-1", (HeaderMatch("x-canary"),))

    with pytest.raises(RouterError, match=r"header 'x-canary' needs exactly one of"):
        router.sync(live, state(10, route))


def test_a_weighted_route_named_in_managed_routes_is_refused() -> None:
    router = IstioRouter(managed_rollout())
    live = {vs_key(): virtual_service([primary()])}

    with pytest.raises(RouterError, match=r"'primary' is both weighted"):
        router.sync(live, state(10, managed=("primary",)))


def test_a_header_route_on_a_virtual_service_without_http_routes_is_refused() -> None:
    router = IstioRouter(rollout({}, trafficRouting={
        "istio": {"virtualService": {"name": "shop-vsvc"}},
        "managedRoutes": [{"name": "set-header-1"}]}))
    live = {vs_key(): virtual_service(tcp=[{"route": primary()["route"]}])}

    with pytest.raises(RouterError, match=r"no HTTP route to weight"):
        router.sync(live, state(10, header(), managed=("set-header-1",)))


def test_experiment_shares_update_or_append_destinations_and_take_from_the_stable() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    route = {"name": "primary", "route": [
        dest("shop-stable", 100), dest("shop-canary", 0), dest("shop-exp-a.apps.svc", 0)]}
    live = {vs_key(): virtual_service([route])}
    shares = Weights(10, "shop-canary", "shop-stable",
                     additional=(("shop-exp-a", 5, "a1"), ("shop-exp-b", 15, "b1")))

    [write] = router.set_weight(live, shares)

    assert write.patch is not None
    assert write.patch["spec"]["http"][0]["route"] == [
        dest("shop-stable", 70), dest("shop-canary", 10), dest("shop-exp-a.apps.svc", 5),
        dest("shop-exp-b", 15)]
    patched = applied(live, [write])
    assert router.verify_weight(patched, shares)
    assert not router.verify_weight(patched, weights(10))


def test_an_experiment_destination_is_dropped_once_the_experiment_ends() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    route = {"name": "primary", "route": [
        dest("shop-stable", 70), dest("shop-canary", 10), dest("shop-exp-a", 20)]}

    [write] = router.set_weight({vs_key(): virtual_service([route])}, weights(10))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0]["route"] == [
        dest("shop-stable", 90), dest("shop-canary", 10)]


def test_weights_adding_up_to_more_than_100_are_refused() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    shares = Weights(90, "shop-canary", "shop-stable", additional=(("shop-exp", 20, None),))

    with pytest.raises(RouterError, match="more than 100"):
        router.set_weight({vs_key(): virtual_service([primary()])}, shares)
