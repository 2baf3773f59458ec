"""Checks on the plain-dict pod templates inside Rollouts and `job` metrics.

We do not model the whole Kubernetes PodSpec (the API server validates it when the
ReplicaSet or Job is created), but a Rollout must not get that far with a template the
server will refuse, or the rollout stalls with the reason buried in an event. So the parts
whose mistakes are common and silent are checked here: the structure down to the
containers, container resource quantities (requests <= limits), and the restart policy a
ReplicaSet or a Job requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rollouts.api.errors import Problem, SpecError, child_path
from rollouts.api.quantity import parse_quantity

__all__ = ["job_spec_problems", "pod_template_labels", "pod_template_problems"]

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def pod_template_problems(
    template: object, path: str, *, for_job: bool = False, allow_placeholders: bool = False
) -> list[Problem]:
    """Problems in a PodTemplateSpec at `path` (`spec.template`).

    `for_job`: the pods belong to a Job (restartPolicy must be Never or OnFailure) rather
    than a ReplicaSet (restartPolicy, if set, must be Always). `allow_placeholders`: string
    values containing `{{...}}` are argument placeholders, checked once substituted.
    """
    if not isinstance(template, Mapping):
        return [Problem(path, "must be a pod template (a mapping with metadata and spec)")]
    problems: list[Problem] = []
    metadata = template.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        problems.append(Problem(child_path(path, "metadata"), "must be a mapping"))
    spec_path = child_path(path, "spec")
    spec = template.get("spec")
    if spec is None:
        return [*problems, Problem(spec_path, "required: the pod spec, with its containers")]
    if not isinstance(spec, Mapping):
        return [*problems, Problem(spec_path, "must be a mapping (a Kubernetes PodSpec)")]
    problems.extend(_restart_policy_problems(spec, spec_path, for_job=for_job))
    for list_name in _CONTAINER_LISTS:
        problems.extend(
            _container_list_problems(
                spec.get(list_name),
                child_path(spec_path, list_name),
                required=list_name == "containers",
                allow_placeholders=allow_placeholders,
            )
        )
    if "resources" in spec:
        problems.extend(
            _resources_problems(
                spec["resources"], child_path(spec_path, "resources"), allow_placeholders
            )
        )
    return problems


def job_spec_problems(spec: object, path: str, *, allow_placeholders: bool = True) -> list[Problem]:
    """Problems in the JobSpec of a `job` metric at `path` (`...provider.job.spec`)."""
    if not isinstance(spec, Mapping):
        return [Problem(path, "must be a Kubernetes JobSpec (a mapping with a pod template)")]
    template_path = child_path(path, "template")
    if "template" not in spec:
        return [Problem(template_path, "required: the pod template the Job runs")]
    return pod_template_problems(
        spec["template"], template_path, for_job=True, allow_placeholders=allow_placeholders
    )


def pod_template_labels(template: object) -> dict[str, str]:
    """The labels of a pod template dict, or {} when there are none (or it is malformed)."""
    if not isinstance(template, Mapping):
        return {}
    metadata = template.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return {}
    return {str(key): str(value) for key, value in labels.items()}


def _restart_policy_problems(spec: Mapping[str, Any], path: str, *, for_job: bool) -> list[Problem]:
    policy = spec.get("restartPolicy")
    policy_path = child_path(path, "restartPolicy")
    if for_job:
        if policy not in ("Never", "OnFailure"):
            got = "is missing" if policy is None else f"is {policy!r}"
            return [
                Problem(
                    policy_path, f"a Job's pods need restartPolicy Never or OnFailure; it {got}"
                )
            ]
        return []
    if policy is not None and policy != "Always":
        return [
            Problem(
                policy_path,
                f"a Rollout's pods run in a ReplicaSet, which needs Always, not {policy!r}",
            )
        ]
    return []


def _container_list_problems(
    containers: object, path: str, *, required: bool, allow_placeholders: bool
) -> list[Problem]:
    if containers is None:
        return [Problem(path, "required: at least one container")] if required else []
    if not isinstance(containers, list):
        return [Problem(path, "must be a list of containers")]
    if required and not containers:
        return [Problem(path, "required: at least one container")]
    problems: list[Problem] = []
    for index, container in enumerate(containers):
        container_path = child_path(path, index)
        if not isinstance(container, Mapping):
            problems.append(Problem(container_path, "must be a container (a mapping)"))
            continue
        if "resources" in container:
            problems.extend(
                _resources_problems(
                    container["resources"],
                    child_path(container_path, "resources"),
                    allow_placeholders,
                )
            )
    return problems


def _resources_problems(resources: object, path: str, allow_placeholders: bool) -> list[Problem]:
    if resources is None:
        return []
    if not isinstance(resources, Mapping):
        return [Problem(path, "must be a mapping with requests and/or limits")]
    problems: list[Problem] = []
    parsed: dict[str, dict[str, tuple[Decimal, object]]] = {}
    for section in ("requests", "limits"):
        values = resources.get(section)
        section_path = child_path(path, section)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            problems.append(Problem(section_path, "must be a mapping of resource name to quantity"))
            continue
        parsed[section] = {}
        for name, value in values.items():
            value_path = child_path(section_path, str(name))
            if allow_placeholders and isinstance(value, str) and "{{" in value:
                continue
            try:
                parsed[section][str(name)] = (parse_quantity(value), value)
            except SpecError as error:
                problems.append(Problem(value_path, str(error)))
    requests, limits = parsed.get("requests", {}), parsed.get("limits", {})
    for name, (requested, requested_raw) in requests.items():
        if name in limits and requested > limits[name][0]:
            problems.append(
                Problem(
                    child_path(child_path(path, "requests"), name),
                    f"the request ({requested_raw}) is above the limit ({limits[name][1]}); "
                    "lower the request or raise the limit",
                )
            )
    return problems
