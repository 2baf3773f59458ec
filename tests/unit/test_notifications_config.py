"""The notification settings: Argo's ConfigMap/Secret format, one problem per bad key."""

from __future__ import annotations

import base64

from rollouts.notifications.config import (
    APPLICATION_CONFIG,
    ROLLOUT_CONFIG,
    NotificationConfig,
    decode_secret,
    parse_config,
    redactor,
)
from rollouts.notifications.services import SlackService, WebhookService
from rollouts.notifications.triggers import APPLICATION_NAMES, ROLLOUT_NAMES

GOOD = {
    "service.webhook.ops-hook": """
url: https://hooks.example.com/deploys
headers:
- name: Authorization
  value: Bearer $webhook-token
basicAuth: {username: bot, password: $hook-password}
retryWaitMin: 500ms
retryWaitMax: 2s
retryMax: 5
""",
    "service.slack": "token: $slack-token\nusername: deploy-bot\nicon: ':rocket:'\n",
    "template.app-sync-succeeded": """
message: Application {{.app.metadata.name}} synced.
webhook:
  ops-hook:
    method: post
    path: /apps/{{.app.metadata.name}}
    body: '{"app": "{{.app.metadata.name}}"}'
slack:
  attachments: '[{"title": "{{.app.metadata.name}}"}]'
email:
  subject: ignored here
""",
    "trigger.on-sync-succeeded": """
- when: app.status.operationState.phase in ['Succeeded']
  send: [app-sync-succeeded]
  oncePer: app.status.operationState.syncResult.revision
  description: Application syncing has succeeded
""",
    "defaultTriggers": "- on-sync-succeeded\n",
    "defaultTriggers.slack": "[on-sync-succeeded]",
    "subscriptions": "- recipients: [slack:deploys]\n  selector: team=payments\n",
    "context": "argocdUrl: https://argocd.example.com\n",
}
SECRETS = {"webhook-token": "tok-123456", "hook-password": "pw-abcdef",
           "slack-token": "xoxb-secret-value"}


def _parse(data: dict[str, str],
           secrets: dict[str, str] | None = None) -> NotificationConfig:
    return parse_config(data, SECRETS if secrets is None else secrets,
                        names=APPLICATION_CONFIG, variables=APPLICATION_NAMES)


class TestAWellFormedConfigMap:
    def test_every_part_is_read_with_secrets_resolved(self) -> None:
        config = _parse(GOOD)
        assert config.problems == ()
        hook = config.services["ops-hook"]
        assert isinstance(hook, WebhookService)
        assert hook.headers == (("Authorization", "Bearer tok-123456"),)
        assert hook.basic_auth == ("bot", "pw-abcdef")
        assert (hook.retry.wait_min, hook.retry.wait_max, hook.retry.retry_max) == (0.5, 2, 5)
        slack = config.services["slack"]
        assert isinstance(slack, SlackService)
        assert slack.token == "xoxb-secret-value" and slack.username == "deploy-bot"
        template = config.templates["app-sync-succeeded"]
        assert template.webhook["ops-hook"].method == "POST"
        assert template.slack is not None and "title" in template.slack.attachments
        (condition,) = config.triggers["on-sync-succeeded"]
        assert condition.send == ("app-sync-succeeded",)
        assert condition.once_per == "app.status.operationState.syncResult.revision"
        assert config.default_triggers == ("on-sync-succeeded",)
        assert config.service_default_triggers == {"slack": ("on-sync-succeeded",)}
        assert config.subscriptions[0].recipients[0].recipient == "deploys"
        assert config.context == {"argocdUrl": "https://argocd.example.com"}

    def test_unsupported_template_sections_are_a_note_not_a_problem(self) -> None:
        config = _parse(GOOD)
        assert any("email not supported" in note for note in config.notes)

    def test_secrets_never_appear_in_the_repr(self) -> None:
        config = _parse(GOOD)
        assert "xoxb-secret-value" not in repr(config)
        assert "tok-123456" not in repr(config.services["ops-hook"])


class TestABadEntryIsOneLineAndOthersStillWork:
    def test_a_missing_secret_key_names_the_reference_not_a_value(self) -> None:
        config = _parse(GOOD, {"webhook-token": "tok-123456"})
        (slack, hook) = sorted(config.problems)
        assert "service.slack: $slack-token not found in Secret argocd-notifications-secret" \
            in slack
        assert "service.webhook.ops-hook: $hook-password not found" in hook
        assert "ops-hook" not in config.services and "slack" not in config.services
        assert "on-sync-succeeded" in config.triggers

    def test_a_condition_that_does_not_parse_names_the_trigger(self) -> None:
        broken = "- when: app.status ==\n  send: [app-sync-succeeded]\n"
        data = dict(GOOD, **{"trigger.on-broken": broken})
        config = _parse(data)
        (problem,) = config.problems
        assert problem.startswith("ConfigMap argocd-notifications-cm: trigger.on-broken: [0].when:")
        assert "\n" not in problem
        assert "on-sync-succeeded" in config.triggers

    def test_unknown_names_such_as_argo_cds_repo_helpers_are_problems(self) -> None:
        data = {"template.t": "message: hi", "trigger.on-x": (
            "- when: repo.GetCommitMetadata(app.status.sync.revision) != nil\n  send: [t]")}
        (problem,) = _parse(data).problems
        assert "unknown name repo" in problem

    def test_a_trigger_sending_an_undefined_template_is_left_out(self) -> None:
        config = _parse({"trigger.on-x": "- when: 'true'\n  send: [nowhere]\n"})
        (problem,) = config.problems
        assert "sends template(s) nowhere, which are not defined" in problem
        assert "on-x" not in config.triggers

    def test_bad_yaml_unsupported_services_and_bad_urls(self) -> None:
        config = _parse({
            "service.email": "host: smtp.example.com",
            "service.webhook.a": "url: ftp://example.com",
            "service.webhook.b": "url: [unclosed",
            "template.t": "- not a map",
            "defaultTriggers": "on-x",
        })
        problems = "\n".join(config.problems)
        assert "service.email: service type 'email' is not supported" in problems
        assert "service.webhook.a: url must be an http or https URL" in problems
        assert "service.webhook.b: is not valid YAML" in problems
        assert "template.t: must be a YAML map" in problems
        assert "defaultTriggers: must be a YAML list" in problems
        assert len(config.problems) == 5

    def test_yaml_aliases_expanding_far_are_refused_small_ones_work(self) -> None:
        levels = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n"
                         for i in range(1, 6))
        bomb = "l0: &l0 [x]\n" + levels
        (problem,) = _parse({"context": bomb}).problems
        assert "aliases expand to more than" in problem and "\n" not in problem
        config = _parse({"context": "a: &v x\nb: *v\n"})
        assert not config.problems and dict(config.context) == {"a": "x", "b": "x"}

    def test_a_deeply_nested_value_is_one_problem_and_the_other_keys_still_work(self) -> None:
        config = _parse({"context": "[" * 5000 + "]" * 5000,
                         "template.deep": "message: " + "[" * 900 + "]" * 900,
                         "template.t": "message: hi"})
        problems = sorted(config.problems)
        assert len(problems) == 2, problems
        assert problems[0].count("context") == 1 and "not valid YAML" in problems[0]
        assert "nested more than" in problems[1] and "\n" not in "".join(problems)
        assert "t" in config.templates


class TestRolloutsConfig:
    def test_conditions_read_rollout_not_app(self) -> None:
        data = {"template.t": "message: hi",
                "trigger.on-x": "- when: app.metadata.name == 'x'\n  send: [t]\n"}
        config = parse_config(data, {}, names=ROLLOUT_CONFIG, variables=ROLLOUT_NAMES)
        (problem,) = config.problems
        assert "argo-rollouts-notification-configmap" in problem
        assert "unknown name app (known: rollout, time)" in problem


def test_secret_data_is_decoded_and_redacted() -> None:
    secret = {"data": {"k": base64.b64encode(b"hunter2-long").decode(), "bad": "%%%"}}
    decoded = decode_secret(secret)
    assert decoded == {"k": "hunter2-long"}
    redact = redactor({"k": "hunter2-long", "short": "ab"})
    assert redact("token hunter2-long in ab") == "token ****** in ab"
    escaped = redactor({"k": 'p@ss w/"q"'})
    for form in ("p%40ss%20w%2F%22q%22", "p%40ss+w%2F%22q%22", 'p@ss w/\\"q\\"'):
        assert escaped(f"GET /x?t={form} failed") == "GET /x?t=****** failed", form
