"""The pod responder's pure parts: which pods answer, what they say, how long a deleted
pod keeps answering. The namespace and the sockets are exercised by
tests/integration/test_real_traffic.py."""

from __future__ import annotations

import json
from typing import Any

from rollouts.devcluster.podnet import (
    STATUS_ANNOTATION,
    Pod,
    PodTable,
    _apply,
    answer,
    pod_from,
)


def _pod(name: str = "web-1", ip: str | None = "10.1.0.7", *,
         labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
         ports: list[dict[str, Any]] | None = None, uid: str = "u1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "uid": uid,
                         "labels": labels or {}, "annotations": annotations or {}},
            "spec": {"containers": [{"name": "app", "ports": ports if ports is not None
                                     else [{"containerPort": 8080}]}]},
            "status": {"podIP": ip} if ip else {}}


def _parsed(obj: dict[str, Any]) -> Pod:
    pod = pod_from(obj)
    assert pod is not None
    return pod


class TestWhichPodsAnswer:
    def test_a_pod_with_an_ip_answers_on_its_tcp_container_ports(self) -> None:
        pod = pod_from(_pod(ports=[{"containerPort": 8080}, {"containerPort": 9090},
                                   {"containerPort": 53, "protocol": "UDP"}]))
        assert pod is not None
        assert (pod.ip, pod.ports, pod.status) == ("10.1.0.7", (8080, 9090), 200)

    def test_a_pod_without_an_ip_or_on_the_host_network_does_not(self) -> None:
        assert pod_from(_pod(ip=None)) is None
        host = _pod()
        host["spec"]["hostNetwork"] = True
        assert pod_from(host) is None

    def test_the_version_is_the_version_label_else_the_template_hash(self) -> None:
        hashed = {"rollouts-pod-template-hash": "abc", "pod-template-hash": "def"}
        assert _parsed(_pod(labels={**hashed, "version": "v2"})).version == "v2"
        assert _parsed(_pod(labels=hashed)).version == "abc"
        assert _parsed(_pod(labels={"pod-template-hash": "def"})).version == "def"

    def test_the_status_annotation_makes_a_pod_fail_and_nonsense_is_ignored(self) -> None:
        assert _parsed(_pod(annotations={STATUS_ANNOTATION: "500"})).status == 500
        assert _parsed(_pod(annotations={STATUS_ANNOTATION: "oops"})).status == 200
        assert _parsed(_pod(annotations={STATUS_ANNOTATION: "700"})).status == 200


class TestWhatTheySay:
    def test_a_pod_names_itself_and_its_version(self) -> None:
        pod = Pod("u", "web-1", "shop", "10.1.0.7", (8080,), "v2", 500)
        status, body = answer(pod, "10.1.0.7", "/x")
        assert status == 500
        assert json.loads(body) == {"pod": "web-1", "namespace": "shop", "version": "v2",
                                    "ip": "10.1.0.7", "path": "/x", "status": 500}

    def test_an_address_with_no_pod_says_so_with_503(self) -> None:
        status, body = answer(None, "10.1.9.9", "/")
        assert status == 503 and "10.1.9.9" in json.loads(body)["error"]


class TestDeletedPods:
    def test_a_deleted_pod_answers_through_its_grace_then_not(self) -> None:
        table = PodTable(grace=5.0)
        assert _apply(table, {"type": "ADDED", "object": _pod()})
        table.retire("u1", "10.1.0.7", now=100.0)
        assert table.get("10.1.0.7", now=104.9) is not None
        assert table.get("10.1.0.7", now=105.0) is None

    def test_a_new_pod_on_the_same_ip_is_not_retired_by_the_old_ones_deletion(self) -> None:
        table = PodTable(grace=5.0)
        _apply(table, {"type": "ADDED", "object": _pod("new", uid="u2")})
        table.retire("u1", "10.1.0.7", now=100.0)
        found = table.get("10.1.0.7", now=200.0)
        assert found is not None and found.name == "new"

    def test_a_relist_retires_pods_that_are_gone_and_keeps_those_listed(self) -> None:
        table = PodTable(grace=5.0)
        _apply(table, {"type": "ADDED", "object": _pod("a", "10.1.0.1", uid="a")})
        _apply(table, {"type": "ADDED", "object": _pod("b", "10.1.0.2", uid="b")})
        table.replace_all([p for p in [pod_from(_pod("b", "10.1.0.2", uid="b"))] if p],
                          now=100.0)
        assert table.get("10.1.0.1", now=101.0) is not None
        assert table.get("10.1.0.1", now=106.0) is None
        assert table.get("10.1.0.2", now=1000.0) is not None

    def test_an_error_event_asks_for_a_relist(self) -> None:
        assert not _apply(PodTable(), {"type": "ERROR", "object": {"code": 410}})
        assert _apply(PodTable(), {"type": "BOOKMARK", "object": {"metadata": {}}})
