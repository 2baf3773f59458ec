"""`rollouts.lint`: text in, located problems out."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rollouts.api import Severity
from rollouts.lint import UnusableInput, lint_documents, lint_text

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
"""

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
"""


def lint(text: str) -> list[str]:
    return [str(problem) for problem in lint_text(textwrap.dedent(text), "app.yaml").problems]


class TestGivenAFileMixingOurKindsWithOthers:
    def test_when_all_is_well_then_no_problem_and_the_others_are_counted(self) -> None:
        report = lint_text(f"{SERVICE}---\n{ROLLOUT}", "app.yaml")
        assert report.problems == ()
        assert (report.documents, report.checked, report.skipped) == (2, 1, 1)
        assert report.kinds == {"Rollout": 1}

    def test_when_the_second_document_is_wrong_then_the_problem_names_file_document_field(
        self,
    ) -> None:
        broken = ROLLOUT.replace("setWeight: 20", "setWeight: 200")
        assert lint(f"{SERVICE}---\n{broken}") == [
            "app.yaml:2:spec.strategy.canary.steps[0].setWeight: error: "
            "must be between 0 and 100, not 200"
        ]

    def test_when_there_are_empty_documents_then_numbering_still_counts_them(self) -> None:
        broken = ROLLOUT.replace("setWeight: 20", "setWeight: 200")
        problems = lint_text(f"---\n{SERVICE}---\n---\n{broken}", "app.yaml").problems
        assert [problem.document for problem in problems] == [3]


class TestGivenArgoKinds:
    def test_when_the_kind_is_unknown_then_error_suggests_the_nearest(self) -> None:
        text = "apiVersion: argoproj.io/v1alpha1\nkind: Rolout\nmetadata: {name: x}\n"
        (problem,) = lint_text(text, "a.yaml").problems
        assert problem.severity is Severity.ERROR
        assert problem.path == "kind" and "did you mean 'Rollout'" in problem.message

    def test_when_the_kind_belongs_to_another_argo_project_then_a_warning_and_skipped(self) -> None:
        text = "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: x}\n"
        report = lint_text(text, "a.yaml")
        assert report.errors == 0 and report.warnings == 1 and report.skipped == 1

    def test_when_the_version_is_not_served_then_error(self) -> None:
        text = ROLLOUT.replace("v1alpha1", "v1beta1")
        (problem,) = lint_text(text, "a.yaml").problems
        assert problem.path == "apiVersion" and "argoproj.io/v1alpha1" in problem.message

    def test_when_kind_rollout_has_no_api_version_then_it_is_ours_and_an_error(self) -> None:
        text = ROLLOUT.replace("apiVersion: argoproj.io/v1alpha1\n", "")
        (problem,) = lint_text(text, "a.yaml").problems
        assert problem.path == "apiVersion" and problem.is_error


class TestGivenYamlThatHidesAMistake:
    def test_when_a_key_is_repeated_then_error_because_yaml_keeps_only_the_last(self) -> None:
        text = ROLLOUT.replace(
            "      - setWeight: 20\n", "      - setWeight: 20\n        setWeight: 30\n"
        )
        problems = lint_text(text, "a.yaml").problems
        duplicate = [p for p in problems if "appears twice" in p.message]
        assert [p.path for p in duplicate] == ["spec.strategy.canary.steps[0].setWeight"]

    def test_when_a_list_of_objects_is_given_then_each_item_is_checked(self) -> None:
        broken = ROLLOUT.replace("setWeight: 20", "setWeight: 200")
        items = textwrap.indent(broken, "    ").replace("    apiVersion", "  - apiVersion", 1)
        text = f"apiVersion: v1\nkind: List\nitems:\n{items}"
        (problem,) = lint_text(text, "a.yaml").problems
        assert problem.path == "items[0].spec.strategy.canary.steps[0].setWeight"


class TestGivenUnusableInput:
    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("kind: [unclosed\n", "not valid YAML"),
            ("- a\n- b\n", "document 1 is a list, not a mapping"),
            ("just words\n", "document 1 is a string"),
        ],
    )
    def test_when_linted_then_unusable_input_says_what_is_wrong(self, text: str, says: str) -> None:
        with pytest.raises(UnusableInput, match=says):
            lint_text(text, "a.yaml")

    def test_when_json_is_broken_then_unusable_input_gives_the_position(self) -> None:
        with pytest.raises(UnusableInput, match=r"not valid JSON .*line 1"):
            lint_text("{", "a.json", syntax="json")

    def test_when_a_mapping_is_not_a_kubernetes_object_then_a_warning(self) -> None:
        report = lint_text("replicaCount: 3\n", "values.yaml")
        assert report.errors == 0 and report.warnings == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "spec",
        "strategy",
        "canary",
        "steps",
        "setWeight",
        "pause",
        "duration",
        "template",
        "metrics",
        "provider",
        "job",
        "selector",
        "trafficRouting",
        "status",
        "source",
        "count",
    ]
)


def _plant(doc: dict[str, Any], path: list[str], value: object) -> dict[str, Any]:
    node: Any = doc
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value
    return doc


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        ["Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Application"]
    ),
    st.lists(_keys, min_size=1, max_size=5),
    _json,
)
def test_any_document_of_our_kinds_lints_without_crashing(
    kind: str, path: list[str], value: object
) -> None:
    doc = _plant(yaml.safe_load(ROLLOUT), path, value)
    doc["kind"] = kind
    report = lint_documents([doc], "fuzz.yaml")
    assert report.checked == 1
