"""Fields nobody reads are never silently ignored: typos are errors, Argo extras warnings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rollouts.api import (
    Severity,
    check_object,
    dump_object,
    parse_object,
    unsupported_field_catalog,
)

DOC = Path(__file__).parents[2] / "docs" / "unsupported-fields.md"


def rollout(canary: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
            "strategy": {"canary": canary},
        },
        **top,
    }


def found(doc: dict[str, Any]) -> dict[str, tuple[Severity, str]]:
    return {p.path: (p.severity, p.message) for p in check_object(doc).problems}


class TestGivenATypo:
    def test_when_a_field_is_misspelled_then_error_suggests_the_right_one(self) -> None:
        severity, message = found(rollout({"stableServce": "web"}))[
            "spec.strategy.canary.stableServce"
        ]
        assert severity is Severity.ERROR
        assert "did you mean 'stableService'" in message

    def test_when_a_field_is_written_in_snake_case_then_error_suggests_camel_case(self) -> None:
        severity, message = found(rollout({"stable_service": "web"}))[
            "spec.strategy.canary.stable_service"
        ]
        assert severity is Severity.ERROR
        assert "'stableService'" in message

    def test_when_a_top_level_key_is_unknown_then_error(self) -> None:
        severity, _ = found(rollout({}, specs={}))["specs"]
        assert severity is Severity.ERROR

    def test_when_a_metadata_key_is_unknown_then_error(self) -> None:
        doc = rollout({})
        doc["metadata"]["lables"] = {"a": "b"}
        assert "did you mean 'labels'" in found(doc)["metadata.lables"][1]

    def test_when_an_unknown_field_is_kept_then_the_object_still_round_trips(self) -> None:
        doc = rollout({"stableServce": "web"})
        result = check_object(doc)
        assert result.obj is not None and dump_object(result.obj) == doc


class TestGivenAnArgoFieldWeDoNotImplement:
    def test_when_present_then_a_warning_says_not_supported_yet(self) -> None:
        doc = rollout({"steps": [{"plugin": {"name": "x"}}]})
        severity, message = found(doc)["spec.strategy.canary.steps[0].plugin"]
        assert severity is Severity.WARNING
        assert message.startswith("not supported yet")

    def test_when_another_router_plugin_is_named_then_a_warning_names_the_plugin(self) -> None:
        doc = rollout(
            {
                "canaryService": "c",
                "stableService": "s",
                "trafficRouting": {"plugins": {"argoproj-labs/contour": {"httpProxy": "x"}}},
            }
        )
        severity, message = found(doc)[
            'spec.strategy.canary.trafficRouting.plugins["argoproj-labs/contour"]'
        ]
        assert severity is Severity.WARNING and "gatewayAPI" in message

    def test_when_only_warnings_then_parse_object_still_gives_the_model(self) -> None:
        doc = rollout(
            {"antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 1}}}
        )
        assert parse_object(doc).kind == "Rollout"


class TestGivenControllerWrittenStatus:
    def test_when_status_has_an_unknown_field_then_only_a_warning(self) -> None:
        doc = rollout({}, status={"phase": "Healthy", "newFieldFromArgo": 1})
        severity, message = found(doc)["status.newFieldFromArgo"]
        assert severity is Severity.WARNING and "kept as is" in message


def test_the_documentation_lists_every_unsupported_field_under_its_model() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = {
        match.group(1): body
        for match, body in zip(
            re.finditer(r"^### .*\((\w+)\)\s*$", text, flags=re.MULTILINE),
            re.split(r"^### .*$", text, flags=re.MULTILINE)[1:],
            strict=True,
        )
    }
    missing = [
        f"{model}.{field}"
        for model, field, _ in unsupported_field_catalog()
        if f"`{field}`" not in sections.get(model, "")
    ]
    assert missing == []


def test_the_catalog_covers_the_fields_the_brief_names() -> None:
    rows = {(model, field) for model, field, _ in unsupported_field_catalog()}
    for expected in [
        ("CanaryStep", "plugin"),
        ("RolloutAnalysis", "dryRun"),
        ("TrafficRouting", "alb"),
        ("TrafficRouting", "ambassador"),
        ("TrafficRouting", "appMesh"),
        ("TrafficRouting", "traefik"),
        ("TrafficRouting", "apisix"),
        ("TrafficRouting", "maxTrafficWeight"),
    ]:
        assert expected in rows
