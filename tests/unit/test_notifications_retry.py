"""The retry policy and the requests a notification becomes."""

from __future__ import annotations

import base64
import json

import pytest

from rollouts.notifications.delivery import build_request
from rollouts.notifications.retry import RetryPolicy, Verdict, after_attempt, retryable_status
from rollouts.notifications.services import SlackService, WebhookService, parse_service
from rollouts.notifications.subscriptions import Destination
from rollouts.notifications.templates import (
    Notification,
    SlackParts,
    WebhookParts,
    parse_template,
    render_notification,
)


class TestRetryPolicy:
    @pytest.mark.parametrize(("attempt", "verdict", "delay"), [
        (0, Verdict.RETRY, 1.0), (1, Verdict.RETRY, 2.0), (2, Verdict.RETRY, 4.0),
        (3, Verdict.GIVE_UP, 0.0),
    ])
    def test_argo_defaults_double_from_one_second_and_stop_after_three(
            self, attempt: int, verdict: Verdict, delay: float) -> None:
        decision = after_attempt(RetryPolicy(), attempt, retryable=True)
        assert (decision.verdict, decision.delay) == (verdict, delay)

    def test_the_wait_is_capped_and_permanent_errors_stop_at_once(self) -> None:
        assert after_attempt(RetryPolicy(1, 5, 10), 6, retryable=True).delay == 5
        assert after_attempt(RetryPolicy(), 0, retryable=False).verdict is Verdict.GIVE_UP
        assert after_attempt(RetryPolicy(1, 5, 10**6), 10**5, retryable=True).delay == 5
        # A hostile annotation's negative count is the first attempt, not a crash.
        assert after_attempt(RetryPolicy(), -7, retryable=True).delay == 1.0

    @pytest.mark.parametrize(("status", "retry"), [
        (429, True), (500, True), (503, True), (501, False), (404, False), (400, False)])
    def test_which_answers_are_worth_another_try(self, status: int, retry: bool) -> None:
        assert retryable_status(status) is retry

    def test_service_options_bound_the_policy(self) -> None:
        with pytest.raises(ValueError, match="retryMax must be an integer"):
            parse_service("webhook", "h", {"url": "http://h", "retryMax": 1000})
        with pytest.raises(ValueError, match="retryWaitMin must be a duration"):
            parse_service("webhook", "h", {"url": "http://h", "retryWaitMin": "soon"})


HOOK = WebhookService(name="hook", url="https://hooks.example.com/base/",
                      headers=(("X-Token", "t0k3n"),), basic_auth=("bot", "pw"))


class TestRequests:
    def test_a_webhook_uses_its_template_section_method_path_and_body(self) -> None:
        note = Notification(message="m", webhook={"hook": WebhookParts("POST", "/apps/x", "{}")})
        request = build_request(note, HOOK, Destination("hook")).request
        assert (request.method, request.url, request.body) == (
            "POST", "https://hooks.example.com/base/apps/x", b"{}")
        assert request.headers["X-Token"] == "t0k3n"
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bot:pw").decode()

    def test_without_a_section_it_is_a_get_of_the_message_as_argo_does(self) -> None:
        request = build_request(Notification(message="hello"), HOOK, Destination("hook")).request
        assert (request.method, request.url, request.body) == (
            "GET", HOOK.url, b"hello")

    def test_slack_token_posts_to_chat_post_message_with_the_channel(self) -> None:
        slack = SlackService(name="slack", token="xoxb-1", username="bot", icon=":rocket:")
        note = Notification(message="m", slack=SlackParts(attachments='[{"title": "t"}]'))
        prepared = build_request(note, slack, Destination("slack", "deploys"))
        assert prepared.slack_api and prepared.request.url == \
            "https://slack.com/api/chat.postMessage"
        assert prepared.request.headers["Authorization"] == "Bearer xoxb-1"
        assert json.loads(prepared.request.body or b"") == {
            "text": "m", "channel": "deploys", "username": "bot", "icon_emoji": ":rocket:",
            "attachments": [{"title": "t"}]}

    def test_slack_incoming_webhook_and_bad_attachments(self) -> None:
        slack = SlackService(name="slack", webhook_url="http://127.0.0.1:1/hook")
        prepared = build_request(Notification(message="m"), slack, Destination("slack"))
        assert not prepared.slack_api and prepared.request.url == "http://127.0.0.1:1/hook"
        assert json.loads(prepared.request.body or b"") == {"text": "m"}
        bad = Notification(message="m", slack=SlackParts(attachments="[{oops"))
        assert "not valid JSON" in build_request(bad, slack, Destination("slack")).problem


class TestTemplates:
    def test_later_templates_override_and_failures_name_the_field(self) -> None:
        first = parse_template("a", {"message": "A {{x}}", "webhook": {"hook": {"body": "b"}}})
        second = parse_template("b", {"message": "B {{x}}"})

        def render(source: str, data: object, name: str) -> str:
            if "fail" in source:
                raise ValueError("boom")
            return source.replace("{{x}}", "1") + f"@{name}"

        note = render_notification([first, second], {}, render)
        assert note.message == "B 1@b.message"
        assert note.webhook["hook"].body == "b@a.webhook.hook.body"
        broken = parse_template("c", {"slack": {"blocks": "fail"}})
        with pytest.raises(ValueError, match=r"template c slack\.blocks: boom"):
            render_notification([broken], {}, render)
