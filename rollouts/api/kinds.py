"""From a parsed YAML/JSON document to a model, and back: the entry points of `rollouts.api`.

- `check_object(doc)` dispatches on `apiVersion`/`kind`, validates, and returns the model
  with *every* problem found (type errors, semantic rules, unknown and unsupported fields),
  never raising: what `rollouts lint` uses.
- `parse_object(doc)` returns the model or raises one `SpecError` listing the errors:
  what the controllers use (an error becomes the `InvalidSpec` condition).
- `dump_object(obj)` gives back the user's shape (camelCase keys, nothing defaulted).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rollouts.api.analysis import AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate
from rollouts.api.application import Application
from rollouts.api.appproject import AppProject
from rollouts.api.common import API_GROUP, API_VERSION, ApiModel
from rollouts.api.errors import Problem, Severity, SpecError, child_path
from rollouts.api.experiment import Experiment
from rollouts.api.fields import field_problems
from rollouts.api.rollout import Rollout
from rollouts.api.validation import semantic_problems

__all__ = [
    "KINDS",
    "OTHER_ARGO_KINDS",
    "ArgoObject",
    "CheckResult",
    "check_object",
    "dump_object",
    "is_argo_document",
    "parse_object",
]

ArgoObject = (
    Rollout
    | AnalysisTemplate
    | ClusterAnalysisTemplate
    | AnalysisRun
    | Experiment
    | Application
    | AppProject
)

KINDS: dict[str, type[ArgoObject]] = {
    "Rollout": Rollout,
    "AnalysisTemplate": AnalysisTemplate,
    "ClusterAnalysisTemplate": ClusterAnalysisTemplate,
    "AnalysisRun": AnalysisRun,
    "Experiment": Experiment,
    "Application": Application,
    "AppProject": AppProject,
}
"""The kinds of `argoproj.io/v1alpha1` we implement."""

OTHER_ARGO_KINDS: dict[str, str] = {
    "ApplicationSet": "lint leaves it to the applicationsets controller, which "
                      "reports its problems in its status",
    "Workflow": "an Argo Workflows kind",
    "WorkflowTemplate": "an Argo Workflows kind",
    "ClusterWorkflowTemplate": "an Argo Workflows kind",
    "CronWorkflow": "an Argo Workflows kind",
    "WorkflowEventBinding": "an Argo Workflows kind",
    "WorkflowTaskSet": "an Argo Workflows kind",
    "WorkflowTaskResult": "an Argo Workflows kind",
    "WorkflowArtifactGCTask": "an Argo Workflows kind",
    "EventSource": "an Argo Events kind",
    "Sensor": "an Argo Events kind",
    "EventBus": "an Argo Events kind",
}
"""Real `argoproj.io` kinds that other Argo projects (or Argo features we lack) define."""


@dataclass(frozen=True)
class CheckResult:
    """A document's model (None when it could not be built) and every problem found."""

    obj: ArgoObject | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.is_warning]

    @property
    def notes(self) -> list[Problem]:
        """Remarks that are not problems (a field that is our extension, not Argo's)."""
        return [problem for problem in self.problems if problem.severity is Severity.NOTE]

    @property
    def ok(self) -> bool:
        return self.obj is not None and not self.errors


def is_argo_document(doc: Mapping[str, Any]) -> bool:
    """Whether a document belongs to the `argoproj.io` group (any version, any kind)."""
    api_version = doc.get("apiVersion")
    return isinstance(api_version, str) and api_version.split("/", 1)[0] == API_GROUP


def check_object(doc: object) -> CheckResult:
    """Validate one document (a dict from YAML/JSON) as one of our kinds; never raises."""
    if not isinstance(doc, Mapping):
        return CheckResult(None, (Problem("", "must be a mapping (a Kubernetes object)"),))
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    header = _header_problems(api_version, kind)
    if header:
        return CheckResult(None, tuple(header))
    assert isinstance(kind, str)
    model = KINDS[kind]
    try:
        obj = model.model_validate(dict(doc), by_alias=True, by_name=False)
    except ValidationError as invalid:
        return CheckResult(None, tuple(_pydantic_problems(invalid)))
    problems = [*semantic_problems(obj), *field_problems(obj)]
    return CheckResult(obj, tuple(problems))


def parse_object(doc: object) -> ArgoObject:
    """The model of `doc`; raise `SpecError` with every error (warnings are not errors)."""
    result = check_object(doc)
    error = SpecError.collect(result.problems)
    if error is not None:
        raise error
    if result.obj is None:  # an Argo kind we do not implement: only a warning for lint
        raise SpecError(list(result.problems))
    return result.obj


def dump_object(obj: ApiModel) -> dict[str, Any]:
    """The object as YAML/JSON-ready data, in the user's shape (no defaults injected)."""
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True)


def _header_problems(api_version: object, kind: object) -> list[Problem]:
    if not isinstance(kind, str) or not kind:
        return [Problem("kind", f"required: one of {', '.join(KINDS)}")]
    if not isinstance(api_version, str) or not api_version:
        return [Problem("apiVersion", f"required: {API_VERSION}")]
    group = api_version.split("/", 1)[0]
    if group != API_GROUP:
        return [Problem("apiVersion", f"{api_version!r} is not {API_VERSION}")]
    if kind in OTHER_ARGO_KINDS:
        note = OTHER_ARGO_KINDS[kind]
        return [
            Problem(
                "kind", f"{kind} is not handled by rollouts ({note}); not checked", Severity.WARNING
            )
        ]
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, list(KINDS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [
            Problem(
                "kind",
                f"unknown argoproj.io kind {kind!r}{hint}: rollouts knows {', '.join(KINDS)}",
            )
        ]
    if api_version != API_VERSION:
        return [Problem("apiVersion", f"{api_version!r} is not served: write {API_VERSION}")]
    return []


_TYPE_MESSAGES = {
    "missing": "required field is missing",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "datetime_type": "must be a timestamp such as 2024-05-01T12:00:00Z",
    "datetime_parsing": "must be a timestamp such as 2024-05-01T12:00:00Z",
    "datetime_from_date_parsing": "must be a timestamp such as 2024-05-01T12:00:00Z",
}


def _pydantic_problems(invalid: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for detail in invalid.errors(include_url=False):
        path = ""
        for part in detail["loc"]:
            path = child_path(path, part)
        problems.append(Problem(path, _message(detail)))
    return problems


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    message = _TYPE_MESSAGES.get(kind) or detail["msg"].replace("Input should be", "must be")
    if kind != "missing":
        shown = repr(detail.get("input"))
        message += f", not {shown if len(shown) <= 40 else shown[:37] + '...'}"
    return message
