"""Arguments of an AnalysisRun: resolving values (Secrets included), substituting
`{{args.NAME}}` into metrics, and redacting secret values from anything shown."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.args import (
    REDACTED,
    ArgsError,
    MissingSecret,
    ResolvedArgs,
    kube_secret_reader,
    placeholders,
    resolve_args,
    substitute,
)
from rollouts.kube import KubeClient, NotFound, Unavailable

SECRETS = {("ns", "creds", "token"): "s3cr3t-t0ken", ("ns", "creds", "password"): "p@ss w/rd"}


def read_secret(namespace: str, name: str, key: str) -> str:
    try:
        return SECRETS[(namespace, name, key)]
    except KeyError:
        raise MissingSecret(f'Secret "{name}" has no key "{key}"') from None


def run(*args: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "ns"}, "spec": {"args": list(args)}}


def secret_arg(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "creds", "key": key}}}


class TestResolving:
    def test_values_and_secrets(self) -> None:
        args = resolve_args(run({"name": "service", "value": "checkout"},
                                {"name": "empty", "value": ""},
                                secret_arg("token", "token")), read_secret)
        assert dict(args.values) == {"service": "checkout", "empty": "", "token": "s3cr3t-t0ken"}
        assert args.secret_names == {"token"}
        assert args.secrets == ("s3cr3t-t0ken",)

    def test_no_args_is_fine(self) -> None:
        assert resolve_args({"metadata": {}, "spec": {}}, read_secret).values == {}

    def test_a_declared_arg_without_a_value_says_how_to_fix_it(self) -> None:
        with pytest.raises(ArgsError) as caught:
            resolve_args(run({"name": "service"}), read_secret)
        assert str(caught.value) == (
            'argument "service" has no value: pass it from the Rollout '
            "(spec.strategy.canary...analysis.args) or give it a default")

    def test_every_problem_is_listed_at_once(self) -> None:
        with pytest.raises(ArgsError) as caught:
            resolve_args(run({"name": "a"}, secret_arg("b", "missing"),
                             {"name": "c", "valueFrom": {"fieldRef": {
                                 "fieldPath": "metadata.name"}}}), read_secret)
        message = str(caught.value)
        assert 'argument "a" has no value' in message
        assert 'argument "b": Secret "creds" has no key "missing"' in message
        assert 'argument "c" still has valueFrom.fieldRef' in message

    def test_secret_key_ref_needs_name_and_key(self) -> None:
        with pytest.raises(ArgsError, match="needs both name and key"):
            resolve_args(run({"name": "t", "valueFrom": {"secretKeyRef": {"name": "creds"}}}),
                         read_secret)

    def test_an_unreachable_api_server_is_not_an_args_error(self) -> None:
        def unavailable(namespace: str, name: str, key: str) -> str:
            raise Unavailable("connection refused")

        with pytest.raises(Unavailable):
            resolve_args(run(secret_arg("token", "token")), unavailable)

    def test_the_repr_never_shows_secret_values(self) -> None:
        args = resolve_args(run({"name": "s", "value": "v"}, secret_arg("token", "token")),
                            read_secret)
        assert "s3cr3t" not in repr(args) and "token=<secret>" in repr(args)


METRIC: dict[str, Any] = {
    "name": "success-rate",
    "successCondition": "result[0] >= {{args.threshold}}",
    "provider": {"prometheus": {
        "address": "http://prom:9090",
        "query": 'sum(rate(x{service="{{args.service}}"}[1m])) / {{ args.service }}_total',
        "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
    }},
}
ARGS = ResolvedArgs({"service": "checkout", "threshold": "0.95", "token": "s3cr3t"},
                    frozenset({"token"}))


class TestSubstituting:
    def test_every_string_is_substituted_spaces_or_not(self) -> None:
        result = substitute(METRIC, ARGS)
        prometheus = result["provider"]["prometheus"]
        assert prometheus["query"] == 'sum(rate(x{service="checkout"}[1m])) / checkout_total'
        assert prometheus["headers"][0]["value"] == "Bearer s3cr3t"
        assert result["successCondition"] == "result[0] >= 0.95"
        assert "{{args.service}}" in METRIC["provider"]["prometheus"]["query"]  # not mutated

    def test_job_specs_and_keys_are_substituted_too(self) -> None:
        metric = {"name": "j", "provider": {"job": {
            "metadata": {"labels": {"svc-{{args.service}}": "{{args.service}}"}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "c", "args": ["--url", "http://{{args.service}}/health"],
                 "env": [{"name": "N", "value": "{{args.threshold}}"}]}]}}}}}}
        spec = substitute(metric, ARGS)["provider"]["job"]
        assert spec["metadata"]["labels"] == {"svc-checkout": "checkout"}
        container = spec["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["--url", "http://checkout/health"]
        assert container["env"][0]["value"] == "0.95"

    def test_other_templates_are_left_alone(self) -> None:
        url = "http://x/{{ .Values.x }}/{{ workflow }}"
        metric = {"name": "m", "provider": {"web": {"url": url}}}
        assert substitute(metric, ARGS) == metric

    def test_non_strings_are_kept(self) -> None:
        metric = {"name": "m", "count": 3, "dry": True, "x": None, "ratio": 0.5}
        assert substitute(metric, ARGS) == metric

    def test_an_unknown_arg_names_it_and_the_field(self) -> None:
        metric = {"name": "m", "provider": {"web": {
            "url": "http://{{args.host}}/", "headers": [{"key": "k", "value": "{{args.nope}}"}]}}}
        with pytest.raises(ArgsError) as caught:
            substitute(metric, ARGS)
        message = str(caught.value)
        assert "{{args.host}} in provider.web.url" in message
        assert "{{args.nope}} in provider.web.headers[0].value" in message
        assert "declare host, nope in the template's spec.args" in message

    def test_placeholders_lists_what_a_metric_needs(self) -> None:
        assert list(placeholders(METRIC)) == ["service", "threshold", "token"]


class TestRedacting:
    def test_secret_values_are_masked_plain_and_escaped(self) -> None:
        args = ResolvedArgs({"pw": 'p@ss w/"rd', "user": "alice"}, frozenset({"pw"}))
        text = ('failed with p@ss w/"rd, url ?pw=p%40ss%20w%2F%22rd or p%40ss+w%2F%22rd, '
                'json "p@ss w/\\"rd", user alice')
        cleaned = args.redact(text)
        assert "p@ss" not in cleaned and "p%40ss" not in cleaned
        assert cleaned.count(REDACTED) == 4 and "alice" in cleaned

    def test_redact_all_walks_json(self) -> None:
        args = ResolvedArgs({"t": "tok"}, frozenset({"t"}))
        assert args.redact_all({"a": ["x tok", {"tok": 1}], "b": 2}) == {
            "a": [f"x {REDACTED}", {REDACTED: 1}], "b": 2}

    def test_nothing_to_redact_without_secrets(self) -> None:
        assert ResolvedArgs({"a": "x"}).redact("x marks the spot") == "x marks the spot"

    @given(secret=st.text(st.characters(blacklist_characters="*"), min_size=1, max_size=30),
           prefix=st.text(max_size=20), suffix=st.text(max_size=20))
    def test_a_secret_never_survives_redaction(self, secret: str, prefix: str,
                                               suffix: str) -> None:
        args = ResolvedArgs({"s": secret}, frozenset({"s"}))
        assert secret not in args.redact(prefix + secret + suffix + prefix + secret)


class FakeSecrets:
    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def get(self, kind: Any, namespace: str, name: str) -> dict[str, Any]:
        if name not in self.secrets:
            raise NotFound(f'secrets "{name}" not found', 404, "NotFound")
        return {"data": {k: base64.b64encode(v.encode()).decode()
                         for k, v in self.secrets[name].items()}}


class TestKubeSecretReader:
    def reader(self) -> Any:
        fake: Any = FakeSecrets({"creds": {"token": "tok-value"}})
        client: KubeClient = fake
        return kube_secret_reader(client)

    def test_reads_and_decodes(self) -> None:
        assert self.reader()("ns", "creds", "token") == "tok-value"

    def test_a_missing_secret_or_key_is_a_missing_secret(self) -> None:
        with pytest.raises(MissingSecret, match='Secret "other" does not exist in namespace ns'):
            self.reader()("ns", "other", "token")
        with pytest.raises(MissingSecret, match=r'no key "pw" \(its keys: token\)'):
            self.reader()("ns", "creds", "pw")

    def test_resolving_through_it_marks_the_value_secret(self) -> None:
        args = resolve_args(run(secret_arg("t", "token")), self.reader())
        assert args.secret_names == {"t"}
        assert "tok-value" not in args.redact(json.dumps(dict(args.values)))
