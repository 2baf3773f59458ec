"""The Argo Rollouts compatibility corpus (`../shared/compat/argo-rollouts/`), read in place.

Given manifests written by the Argo project, when we parse, dump and lint them, then they
work unchanged: every object parses, dumps back to exactly what was written, and lints with
no errors (warnings only for fields documented as not supported yet); the two
`expectedfailures-malformed` files are refused with the bad field named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rollouts.api import (
    AnalysisTemplate,
    SpecError,
    check_object,
    dump_object,
    is_argo_document,
    parse_object,
    unsupported_field_catalog,
)
from rollouts.lint import lint_text

CORPUS = Path(__file__).parents[2].parent / "shared" / "compat" / "argo-rollouts"
MALFORMED = {
    "e2e-expectedfailures-malformed-rollout.yaml": (
        "spec.template.spec.containers[0].resources.requests.memory"
    ),
    "e2e-expectedfailures-malformed-analysistemplate.yaml": (
        "spec.metrics[0].provider.job.spec.template.spec.containers[0].resources.requests.memory"
    ),
}


def _corpus_files() -> list[Path]:
    assert CORPUS.is_dir(), f"the compatibility corpus is missing: expected it at {CORPUS}"
    return sorted(CORPUS.glob("*.yaml"))


def _argo_documents(path: Path) -> list[dict[str, Any]]:
    docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return [doc for doc in docs if isinstance(doc, dict) and is_argo_document(doc)]


WELL_FORMED = [path for path in _corpus_files() if path.name not in MALFORMED]


def test_the_corpus_is_all_here() -> None:
    names = {path.name for path in _corpus_files()}
    assert len(names) >= 26
    assert set(MALFORMED) <= names


@pytest.mark.parametrize("path", WELL_FORMED, ids=lambda path: path.name)
def test_given_an_argo_manifest_when_parsed_then_it_round_trips_unchanged(path: Path) -> None:
    documents = _argo_documents(path)
    assert documents, f"{path.name} holds no argoproj.io object"
    for doc in documents:
        obj = parse_object(doc)
        dumped = dump_object(obj)
        assert dumped == doc
        assert parse_object(dumped) == obj


@pytest.mark.parametrize("path", WELL_FORMED, ids=lambda path: path.name)
def test_given_an_argo_manifest_when_linted_then_only_documented_warnings(path: Path) -> None:
    report = lint_text(path.read_text(encoding="utf-8"), path.name)
    assert report.errors == 0, [str(problem) for problem in report.problems]
    unsupported = {field for _, field, _ in unsupported_field_catalog()}
    for problem in report.problems:
        assert problem.message.startswith("not supported yet"), str(problem)
        assert problem.path.rsplit(".", 1)[-1] in unsupported, str(problem)
    assert report.checked == len(_argo_documents(path))


def test_given_the_corpus_when_linted_then_the_unsupported_fields_found_are_the_known_ones() -> (
    None
):
    found = {
        problem.path
        for path in WELL_FORMED
        for problem in lint_text(path.read_text(encoding="utf-8"), path.name).problems
    }
    assert found == {
        # ALB stays unimplemented (issue 10 names it); two compat Rollouts use it.
        "spec.strategy.canary.trafficRouting.alb",
    }


@pytest.mark.parametrize(("name", "field"), sorted(MALFORMED.items()))
def test_given_a_malformed_manifest_when_linted_then_an_error_names_the_bad_field(
    name: str, field: str
) -> None:
    path = CORPUS / name
    report = lint_text(path.read_text(encoding="utf-8"), name)
    errors = {problem.path: problem.message for problem in report.problems if problem.is_error}
    assert field in errors
    assert "'invalid' is not a quantity" in errors[field]


@pytest.mark.parametrize(("name", "field"), sorted(MALFORMED.items()))
def test_given_a_malformed_manifest_when_parsed_then_spec_error_names_the_bad_field(
    name: str, field: str
) -> None:
    (doc,) = _argo_documents(CORPUS / name)
    with pytest.raises(SpecError) as raised:
        parse_object(doc)
    assert field in {problem.path for problem in raised.value.problems}
    assert field in str(raised.value)


def test_given_an_argo_template_with_arguments_when_parsed_then_placeholders_are_kept() -> None:
    (doc,) = _argo_documents(CORPUS / "e2e-functional-analysistemplate-sleep-job.yaml")
    result = check_object(doc)
    assert result.ok
    template = parse_object(doc)
    assert isinstance(template, AnalysisTemplate)
    metric = template.spec.metrics[0]
    assert metric.count is not None and metric.count.raw == "{{args.count}}"
    assert metric.provider.kind == "job"
