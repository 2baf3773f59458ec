"""Argo's metric providers that we do not implement are refused when a template or run
is checked (lint, `check_object`, the analysis controller), not discovered mid-rollout;
`unsupported_metric_providers(template)` gives the same messages for a template dict."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.decide import plan_run
from rollouts import api
from rollouts.api import Severity, check_object, dump_object, unsupported_metric_providers
from rollouts.api.analysis import UNSUPPORTED_PROVIDERS
from rollouts.lint import lint_text
from tests.unit.test_analysis_decide import T0

DOC = Path(__file__).parents[2] / "docs" / "unsupported-fields.md"
KINDS = ["AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun"]


def template(*providers: dict[str, Any], kind: str = "AnalysisTemplate") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "t", "namespace": "default"},
        "spec": {
            "metrics": [
                {"name": f"m{index}", "provider": provider}
                for index, provider in enumerate(providers)
            ]
        },
    }


PROMETHEUS = {"prometheus": {"address": "http://prometheus:9090", "query": "up"}}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", UNSUPPORTED_PROVIDERS)
def test_check_object_reports_an_error_naming_the_provider(kind: str, name: str) -> None:
    doc = template(PROMETHEUS, {name: {"query": "x"}}, kind=kind)
    result = check_object(doc)
    assert [(p.path, p.message, p.severity) for p in result.problems] == [
        (
            f"spec.metrics[1].provider.{name}",
            f"the {name} provider is not supported; use prometheus, web or job",
            Severity.ERROR,
        )
    ]
    assert result.obj is not None and dump_object(result.obj) == doc  # kept as written


def test_the_api_function_gives_the_same_messages() -> None:
    doc = template(PROMETHEUS, {"datadog": {"query": "avg:x"}}, {"newRelic": {"query": "y"}})
    assert unsupported_metric_providers(doc) == [
        "spec.metrics[1].provider.datadog: the datadog provider is not supported; "
        "use prometheus, web or job",
        "spec.metrics[2].provider.newRelic: the newRelic provider is not supported; "
        "use prometheus, web or job",
    ]
    assert api.unsupported_metric_providers is unsupported_metric_providers
    assert "unsupported_metric_providers" in api.__all__


def test_a_template_with_our_providers_only_is_fine() -> None:
    web = {"web": {"url": "http://x/"}}
    assert unsupported_metric_providers(template(PROMETHEUS, web)) == []
    assert unsupported_metric_providers({"kind": "ClusterAnalysisTemplate"}) == []


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["spec", "metrics", "provider", "datadog", "x"]),
                      children, max_size=3),
    max_leaves=12,
))  # fmt: skip
def test_any_shape_gives_a_list_and_never_raises(template: Any) -> None:
    assert isinstance(unsupported_metric_providers(template), list)


def test_two_providers_in_one_metric_are_both_reported() -> None:
    doc = template({**PROMETHEUS, "datadog": {"query": "x"}})
    paths = {problem.path for problem in check_object(doc).errors}
    assert paths == {"spec.metrics[0].provider", "spec.metrics[0].provider.datadog"}


def test_lint_fails_with_the_message() -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-rate}
spec:
  metrics:
  - name: errors
    successCondition: result < 0.01
    provider:
      datadog: {query: "sum:errors{*}", interval: 5m}
"""
    report = lint_text(text, "at.yaml")
    assert [str(problem) for problem in report.problems] == [
        "at.yaml:1:spec.metrics[0].provider.datadog: error: the datadog provider is not "
        "supported; use prometheus, web or job"
    ]
    assert report.errors == 1


def test_a_run_with_one_ends_in_error_before_measuring() -> None:
    plan = plan_run(template({"wavefront": {"query": "x"}}, kind="AnalysisRun"), T0)
    assert plan.done and plan.phase.value == "Error" and plan.due == []
    assert plan.status["message"] == (
        "Analysis spec invalid: spec.metrics[0].provider.wavefront: the wavefront provider "
        "is not supported; use prometheus, web or job"
    )


def test_the_documentation_names_every_refused_provider_as_an_error() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = re.search(r"^### .*\(MetricProvider\)\n(.*?)^###", text,
                        flags=re.MULTILINE | re.DOTALL)
    assert section is not None
    body = section.group(1)
    assert "**errors**" in body
    assert "the datadog provider is not supported; use prometheus, web or job" in body
    for name in UNSUPPORTED_PROVIDERS:
        assert f"`{name}`" in body, name
