"""When the controller must ask the API server to default a pod template (to recognise a
ReplicaSet another controller made for it), and what it asks. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rollouts.core import HASH_LABEL, Observed, ReplicaSetView, pod_template_hash
from rollouts.core.observed import same_template
from rollouts.core.replica_sets import defaulting_request

TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
RAW = {"metadata": {"name": "web", "namespace": "ns"},
       "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}}


def _rs(pod_hash: str) -> ReplicaSetView:
    return ReplicaSetView.parse({"metadata": {"name": f"web-{pod_hash}",
                                              "labels": {HASH_LABEL: pod_hash}},
                                 "spec": {"replicas": 1, "template": TEMPLATE}})


def _observed(*replica_sets: ReplicaSetView) -> Observed:
    return Observed(replica_sets=list(replica_sets), analysis_runs=[], templates={},
                    cluster_templates={}, now=datetime(2026, 1, 1, tzinfo=UTC),
                    pod_template=TEMPLATE)


def test_no_question_without_replica_sets_or_when_one_carries_our_hash() -> None:
    assert defaulting_request(RAW, _observed()) is None
    assert defaulting_request(RAW, _observed(_rs(pod_template_hash(TEMPLATE)))) is None


def test_another_controllers_set_asks_for_a_dry_run_of_the_set_we_would_make() -> None:
    request = defaulting_request(RAW, _observed(_rs("argo5f7c9")))
    assert request is not None
    our_hash, body = request
    assert our_hash == pod_template_hash(TEMPLATE)
    assert body["metadata"] == {"generateName": "web-", "namespace": "ns"}
    assert body["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: our_hash}
    assert body["spec"]["template"]["metadata"]["labels"][HASH_LABEL] == our_hash
    assert HASH_LABEL not in TEMPLATE["metadata"]["labels"], "the spec is not modified"


def test_templates_compare_without_hash_label_ephemeral_keys_and_injected_anti_affinity(
) -> None:
    ours: dict[str, Any] = {"metadata": {"labels": {"app": "web", HASH_LABEL: "ours"},
                                         "creationTimestamp": None},
                            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
    argo: dict[str, Any] = {
            "metadata": {"labels": {"app": "web", HASH_LABEL: "argo", "role": "stable"}},
            "spec": {"containers": [{"name": "app", "image": "app:1"}],
                     "affinity": {"podAntiAffinity": {
                         "preferredDuringSchedulingIgnoredDuringExecution": [{
                             "weight": 1, "podAffinityTerm": {
                                 "topologyKey": "kubernetes.io/hostname",
                                 "labelSelector": {"matchExpressions": [{
                                     "key": HASH_LABEL, "operator": "In",
                                     "values": ["old"]}]}}}]}}}}
    assert same_template(ours, argo, {"role"})
    assert not same_template(ours, argo, set()), "an unknown label is a difference"
    other = {**argo, "spec": {**argo["spec"], "containers": [{"name": "app", "image": "x"}]}}
    assert not same_template(ours, other, {"role"})
