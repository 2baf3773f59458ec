"""Rules of a valid Experiment that a schema cannot say (Argo's `VerifyExperimentSpec`
and a few of ours): at least one template, unique template and analysis names, a selector
that selects the template's pods, sane numbers."""

from __future__ import annotations

from collections.abc import Iterator

from rollouts.api.errors import Problem, child_path
from rollouts.api.experiment import Experiment, ExperimentAnalysis, ExperimentTemplate
from rollouts.api.podtemplate import pod_template_labels, pod_template_problems

__all__ = ["experiment_problems"]


def experiment_problems(experiment: Experiment) -> list[Problem]:
    spec = experiment.spec
    problems: list[Problem] = []
    templates_path = "spec.templates"
    if not spec.templates:
        problems.append(Problem(templates_path, "required: at least one template"))
    problems.extend(_unique_names([t.name for t in spec.templates], templates_path))
    for index, template in enumerate(spec.templates):
        problems.extend(_template_problems(template, child_path(templates_path, index)))
    for field, value in (("progressDeadlineSeconds", spec.progress_deadline_seconds),):
        if value is not None and value < 1:
            problems.append(Problem(child_path("spec", field), f"must be 1 or more, not {value}"))
    if spec.scale_down_delay_seconds is not None and spec.scale_down_delay_seconds < 0:
        problems.append(Problem("spec.scaleDownDelaySeconds",
                                f"must be 0 or more, not {spec.scale_down_delay_seconds}"))
    if spec.duration is not None and spec.duration.is_negative:
        problems.append(Problem("spec.duration", "must not be negative"))
    analyses_path = "spec.analyses"
    problems.extend(_unique_names([a.name for a in spec.analysis_list], analyses_path))
    for index, analysis in enumerate(spec.analysis_list):
        problems.extend(_analysis_problems(analysis, child_path(analyses_path, index)))
    return problems


def _unique_names(names: list[str], path: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, name in enumerate(names):
        name_path = child_path(child_path(path, index), "name")
        if not name:
            yield Problem(name_path, "required: a name")
        elif name in seen:
            yield Problem(name_path, f"{name!r} is used twice: names must be unique")
        seen.add(name)


def _template_problems(template: ExperimentTemplate, path: str) -> Iterator[Problem]:
    for field, value in (("replicas", template.replicas),
                         ("minReadySeconds", template.min_ready_seconds)):
        if value is not None and value < 0:
            yield Problem(child_path(path, field), f"must be 0 or more, not {value}")
    template_path = child_path(path, "template")
    yield from pod_template_problems(template.template, template_path)
    selector_path = child_path(path, "selector")
    match_labels = template.selector.match_labels or {}
    if not match_labels and not template.selector.match_expressions:
        yield Problem(selector_path,
                      "must not be empty: it would select every pod in the namespace")
    labels = pod_template_labels(template.template)
    for key, wanted in match_labels.items():
        if labels.get(key) != wanted:
            yield Problem(
                child_path(child_path(selector_path, "matchLabels"), key),
                f"the pod template has no label {key}={wanted}, so the selector would not "
                "select its pods; add the label to template.metadata.labels")


def _analysis_problems(analysis: ExperimentAnalysis, path: str) -> Iterator[Problem]:
    if not analysis.template_name:
        yield Problem(child_path(path, "templateName"),
                      "required: the AnalysisTemplate (or ClusterAnalysisTemplate) to run")
    yield from _unique_names([arg.name for arg in analysis.args or []], child_path(path, "args"))
