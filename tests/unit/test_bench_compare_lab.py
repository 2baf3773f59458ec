"""Pure helpers of `make bench-compare`'s cluster side: the extra kwok nodes hold the
pods asked for, each with its own pod network; timestamps of both controllers parse."""

from __future__ import annotations

from tests.bench.compare.lab import PODS_PER_NODE, fake_nodes, parse_time


def test_fake_nodes_hold_the_pods_asked_for_on_distinct_networks() -> None:
    for pods in (1, PODS_PER_NODE, PODS_PER_NODE + 1, 24_000):
        nodes = fake_nodes(pods)
        capacity = sum(int(n["status"]["allocatable"]["pods"]) for n in nodes)
        assert capacity >= pods
        assert capacity - pods < PODS_PER_NODE  # no node more than needed
        assert len({n["spec"]["podCIDR"] for n in nodes}) == len(nodes)
        assert len({n["metadata"]["name"] for n in nodes}) == len(nodes)
        assert all(n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake" for n in nodes)


def test_parse_time_reads_whole_seconds_and_microseconds() -> None:
    assert parse_time("2026-12-04T04:00:00Z") == 1_796_356_800.0
    assert parse_time("2026-12-04T04:00:00.250000Z") == 1_796_356_800.25
