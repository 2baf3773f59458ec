"""Sending one notification over HTTP (`notifications.delivery.send`) against a local
scripted server: what counts as delivered, and which failures a retry cannot fix (the
transport says so with `TransportError.permanent`, not by the wording of its message)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from analysis.providers.egress import EgressPolicy
from analysis.providers.transport import HttpRequest, TransportError, exchange
from rollouts.notifications.delivery import MAX_ANSWER_BYTES, send
from rollouts.notifications.services import WebhookService
from rollouts.notifications.subscriptions import Destination
from rollouts.notifications.templates import Notification
from tests.integration.exporter import Reply, ScriptedServer

POLICY = EgressPolicy.from_networks()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with ScriptedServer() as scripted:
        yield scripted


def _send(url: str, policy: EgressPolicy = POLICY):  # type: ignore[no-untyped-def]
    return send(Notification(message="hi"), WebhookService("hook", url), Destination("hook"),
                policy)


def test_a_2xx_answer_of_any_size_is_delivered(server: ScriptedServer) -> None:
    url = server.reply("/big", Reply(200, "x" * (MAX_ANSWER_BYTES * 3)))
    assert _send(url).delivered
    answer = exchange(HttpRequest(url), POLICY, max_bytes=1000, cut=True)
    assert answer.truncated and len(answer.body) == 1000


def test_a_redirect_to_another_origin_is_not_retried(server: ScriptedServer) -> None:
    elsewhere = f"http://127.0.0.1:{server.port + 1}/x"
    url = server.reply("/moved", Reply(302, "", headers={"Location": elsewhere}))
    outcome = _send(url)
    assert not outcome.delivered and not outcome.retryable
    assert "another origin" in outcome.reason
    with pytest.raises(TransportError) as caught:
        exchange(HttpRequest(url), POLICY)
    assert caught.value.permanent and not caught.value.timed_out


def test_denied_by_policy_is_permanent_a_refused_connection_is_retried(
    server: ScriptedServer,
) -> None:
    url = server.reply("/ok", Reply(200, "ok"))
    denied = _send(url, EgressPolicy.from_networks(["127.0.0.0/8"]))
    assert not denied.delivered and not denied.retryable
    closed = _send(f"http://127.0.0.1:{server.port}/ok".replace(str(server.port), "9"))
    assert not closed.delivered and closed.retryable
