"""`KubeClient` asks its configuration for credentials at most once per `AUTH_TTL`
(asking re-applies a kubeconfig token, or refreshes an expiring one), and asks again
after it, so a refreshed token is used from then on."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client as k8s_client

from rollouts.kube import CONFIG_MAP, KubeClient
from tests.unit.test_kube_client_http import Loopback, server

__all__ = ["server"]  # the loopback API server fixture, shared with test_kube_client_http


def _refreshing_client(url: str) -> tuple[KubeClient, list[str]]:
    configuration = k8s_client.Configuration(host=url)
    configuration.api_key = {"authorization": "Bearer t0"}
    asked: list[str] = []

    def refresh(config: Any) -> None:  # what the kubeconfig loader's hook does
        asked.append("refresh")
        config.api_key["authorization"] = f"Bearer t{len(asked)}"

    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]
    return KubeClient(configuration, timeout=(2.0, 5.0)), asked


def test_credentials_are_reused_for_a_moment_then_asked_for_again(server: Loopback) -> None:
    server.answer = lambda seen: (200, {"kind": "ConfigMap", "metadata": {"name": "c"}})
    client, asked = _refreshing_client(server.url)
    for _ in range(5):
        client.get(CONFIG_MAP, "ns", "c")
    assert asked == ["refresh"]
    assert {seen.headers["authorization"] for seen in server.seen} == {"Bearer t1"}
    assert client._auth is not None
    client._auth = (time.monotonic() - 2 * 1.0, client._auth[1])  # the moment has passed
    client.get(CONFIG_MAP, "ns", "c")
    assert asked == ["refresh", "refresh"]
    assert server.seen[-1].headers["authorization"] == "Bearer t2"
