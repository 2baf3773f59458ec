"""`KubeClient.list(transform=...)` transforms each item as its page arrives, and an
informer's relist hands its transform to the list, so a relist of a large kind never
holds the whole decoded list at once (only one page of originals)."""

from __future__ import annotations

from typing import Any

from rollouts.kube import CONFIG_MAP, Informer, KubeError
from tests.unit.test_kube_client_http import Answer, Loopback, Seen, client_for, server

__all__ = ["server"]  # the loopback API server fixture, shared with test_kube_client_http


def _pages(seen: Seen) -> Answer:
    if "watch=true" in seen.path:
        return 200, {}
    if "continue=" not in seen.path:
        return 200, {"items": [{"metadata": {"name": "a", "resourceVersion": "3"}}],
                     "metadata": {"continue": "next", "resourceVersion": "7"}}
    return 200, {"items": [{"metadata": {"name": "b", "resourceVersion": "5"}}],
                 "metadata": {"resourceVersion": "7"}}


def test_each_item_is_transformed_as_its_page_arrives(server: Loopback) -> None:
    server.answer = _pages
    requests_when_transformed: dict[str, int] = {}

    def transform(item: dict[str, Any]) -> dict[str, Any]:
        assert item["kind"] == "ConfigMap" and item["apiVersion"] == "v1"  # typed first
        requests_when_transformed[item["metadata"]["name"]] = len(server.seen)
        return {"lean": item["metadata"]["name"]}

    result = client_for(server.url).list(CONFIG_MAP, "ns", transform=transform)
    assert result.items == [{"lean": "a"}, {"lean": "b"}]
    assert result.resource_version == "7"
    # "a" was transformed before the second page was asked for.
    assert requests_when_transformed == {"a": 1, "b": 2}


def test_without_a_transform_the_items_are_the_decoded_objects(server: Loopback) -> None:
    server.answer = _pages
    items = client_for(server.url).list(CONFIG_MAP, "ns").items
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert all(i["kind"] == "ConfigMap" for i in items)


def test_an_expired_continue_token_lists_again_unpaged_and_still_transforms(
        server: Loopback) -> None:
    def expiring(seen: Seen) -> Answer:
        if "continue=" in seen.path:
            return 410, {"kind": "Status", "code": 410, "reason": "Expired",
                         "message": "continue token expired"}
        if "limit=" in seen.path:
            return _pages(seen)
        return 200, {"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
                     "metadata": {"resourceVersion": "9"}}

    server.answer = expiring
    result = client_for(server.url).list(
        CONFIG_MAP, "ns", transform=lambda item: {"lean": item["metadata"]["name"]})
    assert result.items == [{"lean": "a"}, {"lean": "b"}]
    assert result.resource_version == "9"


def test_a_relist_transforms_each_item_once_through_the_list(server: Loopback) -> None:
    server.answer = _pages
    calls: list[tuple[str, int]] = []  # (item, requests sent when it was transformed)

    def transform(item: dict[str, Any]) -> dict[str, Any]:
        calls.append((item["metadata"]["name"], len(server.seen)))
        return {**item, "lean": True}

    informer = Informer(client_for(server.url), CONFIG_MAP, "ns", transform=transform)
    informer.start()
    try:
        assert informer.wait_for_sync(5)
        cached_a = informer.get("", "a")  # items without a namespace are keyed by ""
        assert cached_a is not None and cached_a["lean"] is True
        # Page by page inside the list ("a" before page 2 was asked for), each item once.
        assert calls[:2] == [("a", 1), ("b", 2)]
        assert server.seen[0].path.startswith("/api/v1/namespaces/ns/configmaps?limit=500")
    finally:
        informer.stop()


def test_list_still_raises_other_errors(server: Loopback) -> None:
    server.answer = lambda seen: (403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                        "message": "no"})
    try:
        client_for(server.url).list(CONFIG_MAP, "ns", transform=lambda item: item)
    except KubeError as error:
        assert error.status == 403
    else:
        raise AssertionError("a 403 must raise")
