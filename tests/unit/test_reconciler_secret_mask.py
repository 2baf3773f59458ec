"""Secret data never shown: Argo CD's masks on objects, and scrubbing of messages."""

from __future__ import annotations

import base64
import json
from typing import Any

from reconciler.secret_mask import (
    LAST_APPLIED,
    MASK,
    hide_secret_data,
    mask_object,
    scrub,
    scrub_messages,
    secret_values,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(data: dict[str, str] | None = None, *, string_data: dict[str, str] | None = None,
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": "creds", "namespace": "shop"}}
    if annotations:
        obj["metadata"]["annotations"] = annotations
    if data is not None:
        obj["data"] = data
    if string_data is not None:
        obj["stringData"] = string_data
    return obj


class TestArgoCDsMasks:
    def test_equal_values_get_the_same_mask_and_a_change_a_longer_one(self) -> None:
        target, live = hide_secret_data(
            secret({"password": b64("new"), "user": b64("admin")}),
            secret({"password": b64("old"), "user": b64("admin")}))
        assert target is not None and live is not None
        assert target["data"] == {"password": MASK, "user": MASK}
        assert live["data"] == {"password": MASK + "++++", "user": MASK}

    def test_each_distinct_value_is_numbered_desired_live_last_applied(self) -> None:
        applied = json.dumps(secret({"password": b64("oldest")}))
        target, live = hide_secret_data(
            secret({"password": b64("new")}),
            secret({"password": b64("old")}, annotations={LAST_APPLIED: applied}))
        assert target is not None and live is not None
        assert target["data"]["password"] == "+" * 8
        assert live["data"]["password"] == "+" * 12
        shown = json.loads(live["metadata"]["annotations"][LAST_APPLIED])
        assert shown["data"]["password"] == "+" * 16
        assert "oldest" not in json.dumps(live) and b64("oldest") not in json.dumps(live)

    def test_string_data_is_folded_into_data_first(self) -> None:
        # stringData "s3cret" and data b64("s3cret") are the same value: the same mask.
        target, live = hide_secret_data(secret(string_data={"password": "s3cret"}),
                                        secret({"password": b64("s3cret")}))
        assert target is not None and live is not None
        assert "stringData" not in target
        assert target["data"] == live["data"] == {"password": MASK}

    def test_a_key_only_on_one_side_is_masked_there(self) -> None:
        target, live = hide_secret_data(secret({"a": b64("1111")}), secret({"b": b64("2222")}))
        assert target is not None and live is not None
        assert target["data"] == {"a": MASK} and live["data"] == {"b": MASK}

    def test_an_unparsable_last_applied_annotation_is_replaced_whole(self) -> None:
        live = mask_object(secret({"k": b64("v")}, annotations={LAST_APPLIED: "{not json"}))
        assert live["metadata"]["annotations"][LAST_APPLIED] == MASK

    def test_inputs_are_not_changed_and_other_kinds_pass(self) -> None:
        original = secret({"password": b64("hunter22")})
        masked = mask_object(original)
        assert original["data"]["password"] == b64("hunter22")
        assert masked["data"]["password"] == MASK
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "visible"}}
        assert mask_object(config_map) is config_map
        custom = {"apiVersion": "example.com/v1", "kind": "Secret", "data": {"k": "v"}}
        assert mask_object(custom) is custom

    def test_a_new_object_has_only_the_desired_side(self) -> None:
        target, live = hide_secret_data(secret({"a": b64("x"), "b": b64("x")}), None)
        assert live is None and target is not None
        assert target["data"] == {"a": MASK, "b": MASK}  # numbered per key


class TestScrubbingMessages:
    VALUES = secret_values([
        secret({"password": b64("correct horse battery")},
               annotations={LAST_APPLIED: json.dumps(secret({"password": b64("previous1")}))}),
        secret(string_data={"token": "ghp_abcdef123456", "cert": "line one here\nline two here"}),
        secret({"short": b64("ab")}),
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "not a secret value"}},
    ])

    def test_every_form_of_a_value_is_replaced(self) -> None:
        for quoted in ("correct horse battery", b64("correct horse battery"), "ghp_abcdef123456",
                       b64("ghp_abcdef123456"), "previous1", "line one here",
                       json.dumps("line one here\nline two here")[1:-1]):
            message = f'admission webhook "policy" denied the request: value "{quoted}" bad'
            assert quoted not in scrub(message, self.VALUES), quoted
            assert MASK in scrub(message, self.VALUES)

    def test_short_values_and_other_kinds_are_left_alone(self) -> None:
        assert "ab" not in self.VALUES
        assert scrub("not a secret value", self.VALUES) == "not a secret value"
        assert scrub("nothing here", frozenset()) == "nothing here"

    def test_a_value_containing_another_is_replaced_whole(self) -> None:
        values = frozenset({"abcd", "abcdefgh"})
        assert scrub("x abcdefgh y", values) == f"x {MASK} y"

    def test_only_message_fields_of_a_status_are_scrubbed(self) -> None:
        values = frozenset({"production"})
        status: dict[str, Any] = {
            "sync": {"status": "OutOfSync", "revision": "abc"},
            "resources": [{"kind": "Namespace", "name": "production",
                           "health": {"status": "Healthy", "message": "production ok"}}],
            "conditions": [{"type": "SyncError", "message": "the value production is bad"}],
            "operationState": {"message": "production", "syncResult": {"resources": [
                {"name": "production", "message": "refused: production"}]}},
        }
        scrubbed = scrub_messages(status, values)
        assert scrubbed["resources"][0]["name"] == "production"
        assert scrubbed["resources"][0]["health"]["message"] == f"{MASK} ok"
        assert scrubbed["conditions"][0]["message"] == f"the value {MASK} is bad"
        assert scrubbed["operationState"]["message"] == MASK
        result = scrubbed["operationState"]["syncResult"]["resources"][0]
        assert result == {"name": "production", "message": f"refused: {MASK}"}
        assert status["conditions"][0]["message"] == "the value production is bad"
        assert scrub_messages(status, frozenset()) is status


def test_one_scrubber_for_app_secrets_and_git_credentials() -> None:
    from reconciler.source_secrets import REDACTED, Redactor

    text = r"push refused for t0ken-xyz (and abc, and t0ken-xyz-long); \1 stays"
    values = frozenset({"t0ken-xyz", "t0ken-xyz-long", "abc"})
    assert scrub(text, values) == \
        r"push refused for ++++++++ (and abc, and ++++++++); \1 stays"
    assert scrub(text, values, REDACTED) == Redactor(sorted(values))(text) == \
        r"push refused for <redacted> (and abc, and <redacted>); \1 stays"


def test_short_values_and_the_apps_own_names_are_not_hidden() -> None:
    from reconciler.secret_mask import without_names

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "data": {"env": base64.b64encode(b"prod").decode(),
                       "app": base64.b64encode(b"payments").decode(),
                       "key": base64.b64encode(b"s3cr3t-value").decode()}}
    values = secret_values([secret])
    assert "prod" not in values and base64.b64encode(b"prod").decode() in values
    assert {"payments", "s3cr3t-value"} <= values
    shown = without_names(values, ["payments", "prod-ns", None])
    message = "payments in prod: s3cr3t-value refused"
    assert scrub(message, shown) == "payments in prod: ++++++++ refused"
    assert scrub(message, values) == "++++++++ in prod: ++++++++ refused"
