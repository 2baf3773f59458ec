"""Subscriptions: annotations, default triggers, the ConfigMap's selector subscriptions."""

from __future__ import annotations

import pytest

from rollouts.notifications.subscriptions import (
    Destination,
    annotation_destinations,
    destinations,
    parse_selector,
    parse_subscriptions,
)

P = "notifications.argoproj.io/subscribe."


class TestAnnotations:
    def test_trigger_and_service_with_several_recipients(self) -> None:
        found = annotation_destinations(
            {P + "on-sync-succeeded.slack": "deploys; alerts ;", "other": "x"}, (), {})
        assert found == {"on-sync-succeeded": [Destination("slack", "deploys"),
                                               Destination("slack", "alerts")]}

    def test_an_empty_value_is_one_empty_recipient_as_webhooks_use(self) -> None:
        found = annotation_destinations({P + "on-rollout-aborted.ops-hook": ""}, (), {})
        assert found == {"on-rollout-aborted": [Destination("ops-hook", "")]}

    def test_no_trigger_means_the_default_triggers_service_ones_first(self) -> None:
        annotations = {P + "slack": "deploys", P + "ops-hook": ""}
        found = annotation_destinations(annotations, ("on-a", "on-b"), {"slack": ("on-c",)})
        assert found == {"on-a": [Destination("ops-hook")], "on-b": [Destination("ops-hook")],
                         "on-c": [Destination("slack", "deploys")]}


class TestConfigMapSubscriptions:
    def test_selected_by_labels_and_merged_with_annotations_once(self) -> None:
        subs = parse_subscriptions([
            {"recipients": ["slack:deploys", "ops-hook"], "triggers": ["on-x"],
             "selector": "team=payments,tier in (web, api),!legacy"},
            {"recipients": ["slack:everyone"]},
        ])
        labels = {"team": "payments", "tier": "web"}
        annotations = {P + "on-x.slack": "deploys"}
        found = destinations(annotations, labels, subs, ("on-default",), {})
        assert found == {"on-default": [Destination("slack", "everyone")],
                         "on-x": [Destination("ops-hook"), Destination("slack", "deploys")]}
        assert "on-x" not in destinations({}, {"team": "payments", "tier": "db"}, subs, (), {})

    @pytest.mark.parametrize(("selector", "labels", "matches"), [
        ("a=1", {"a": "1"}, True), ("a==1", {"a": "2"}, False), ("a!=1", {}, True),
        ("a notin (1,2)", {"a": "3"}, True), ("a", {"a": ""}, True), ("!a", {"a": "x"}, False),
        ("", {}, True),
    ])
    def test_label_selector_terms(self, selector: str, labels: dict[str, str],
                                  matches: bool) -> None:
        assert all(r.matches(labels) for r in parse_selector(selector)) is matches

    def test_a_bad_entry_names_itself(self) -> None:
        with pytest.raises(ValueError, match=r"\[1\]: recipients is empty"):
            parse_subscriptions([{"recipients": ["a"]}, {"recipients": []}])
        with pytest.raises(ValueError, match="is not a label requirement"):
            parse_selector("a in b")
