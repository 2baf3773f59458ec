"""The base model and the pieces every kind shares: metadata, selectors, times, conditions.

Conventions of every model in `rollouts.api`:

- attributes are snake_case, YAML keys camelCase (`stable_service` <-> `stableService`);
  objects are read with `by_alias=True, by_name=False` so a snake_case key in a manifest is
  an unknown field, while Python code may construct models by attribute name;
- an optional field the user did not write is None: Argo's defaults are not injected, so
  `model_dump(mode="json", by_alias=True, exclude_none=True)` returns the user's shape; the
  defaults are exposed as `*_or_default` properties instead;
- unknown keys are kept (`extra="allow"`) so that nothing is lost on a round trip, and
  `rollouts.api.fields.field_problems` reports them: a warning for Argo fields listed in a
  model's `unsupported_fields`, an error for anything else;
- integers and booleans are strict (Kubernetes would refuse `replicas: "3"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    Strict,
)
from pydantic.alias_generators import to_camel

from rollouts.api.phases import ConditionStatus

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "ApiModel",
    "Bool",
    "Condition",
    "FieldRef",
    "Int",
    "KeyValue",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "PodTemplateMetadata",
    "Time",
    "format_time",
]

API_GROUP = "argoproj.io"
API_VERSION = "argoproj.io/v1alpha1"

Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]


def _as_utc(value: datetime) -> datetime:
    # Kubernetes times are UTC; YAML may give a naive datetime for `2024-01-01 00:00:00`.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the API server writes it (fractions only if present)."""
    value = _as_utc(value)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


Time = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_time, return_type=str),
]
"""A Kubernetes timestamp: an aware UTC datetime, dumped as `2024-05-01T12:00:00Z`."""


class ApiModel(BaseModel):
    """Base of every model here: camelCase aliases, extras kept, defaults not injected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
    )

    unsupported_fields: ClassVar[Mapping[str, str]] = {}
    """Argo fields of this object that we accept but do not implement yet, with a note on
    each (key `*` stands for any unknown key). They are warnings, other unknown keys errors.
    """


class FieldRef(ApiModel):
    """A downward-API style reference to a field of an object (`metadata.labels['app']`)."""

    field_path: str


class KeyValue(ApiModel):
    """A `{key, value}` pair, as in web and Prometheus `headers`."""

    key: str
    value: str


class LabelSelectorRequirement(ApiModel):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(ApiModel):
    """A Kubernetes label selector (`matchLabels`, `matchExpressions`)."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class PodTemplateMetadata(ApiModel):
    """Labels and annotations added to pods in a role (`canaryMetadata`, `stableMetadata`)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ObjectMeta(ApiModel):
    """Kubernetes object metadata; the fields the API server itself writes are kept as given."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: Int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: Int | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    managed_fields: list[dict[str, Any]] | None = None
    self_link: str | None = None

    def label(self, key: str) -> str | None:
        return (self.labels or {}).get(key)

    def annotation(self, key: str) -> str | None:
        return (self.annotations or {}).get(key)


class Condition(ApiModel):
    """A status condition (`type`, `status`, `reason`, `message`, and when it last changed)."""

    type: str
    status: ConditionStatus
    reason: str | None = None
    message: str | None = None
    last_update_time: Time | None = None
    last_transition_time: Time | None = None

    @property
    def is_true(self) -> bool:
        return self.status is ConditionStatus.TRUE
