"""An AnalysisRun's arguments: resolved to values, substituted into metrics, kept secret.

```yaml
spec:
  args:
  - name: service            # a plain value (the Rollout usually passes it)
    value: checkout
  - name: api-token          # read from a Secret in the run's namespace at measure time
    valueFrom:
      secretKeyRef: {name: prometheus-creds, key: token}
  metrics:
  - name: success-rate
    provider:
      prometheus:
        query: sum(rate(http_requests_total{service="{{args.service}}"}[1m]))
        headers: [{key: Authorization, value: "Bearer {{ args.api-token }}"}]
```

`resolve_args(run, read_secret)` gives a `ResolvedArgs`; `substitute(metric, args)`
replaces `{{args.NAME}}` (spaces inside the braces allowed) in every string of a metric,
keys included: queries, URLs, headers, bodies, Job specs, conditions, and the scalar
settings Argo lets take an argument (`count: "{{args.count}}"`, `interval`,
`initialDelay`, the limits, `provider.prometheus.timeout`, `provider.web.timeoutSeconds`).
A setting that is still not a valid value once substituted is an `ArgsError` naming the
metric, the setting and the value: `metric "success-rate": count "abc" (from
{{args.count}}) is not an integer`. Values from
`secretKeyRef` are read on every resolution and never stored; `ResolvedArgs.redact(text)`
masks them in anything bound for a message, an event or a log. `valueFrom.fieldRef` and
`podTemplateHashValue` are the Rollout's to resolve when it creates the run (see
`rollouts.core.analysis_runs`); one still present here is an error.

Errors are `ArgsError` (permanent until the run or template changes): a declared argument
without a value, a Secret or key that does not exist, a placeholder naming an undeclared
argument, a setting whose substituted value is not valid. A failure to reach the API
server while reading a Secret is not an `ArgsError`: it propagates (a temporary
`KubeError`) so the reconcile is retried.
Neighbours: the state machine (`analysis.decide`) calls these before each measurement and
hands the substituted metric to a provider (`analysis.providers`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollouts.api import Duration, IntOrArg, SpecError
from rollouts.api.placeholder import ARG_PLACEHOLDER
from rollouts.kube import SECRET, KubeClient, NotFound
from rollouts.secret_forms import secret_forms

__all__ = [
    "REDACTED",
    "ArgsError",
    "MissingSecret",
    "ResolvedArgs",
    "SecretReader",
    "kube_secret_reader",
    "placeholders",
    "resolve_args",
    "substitute",
]

REDACTED = "*****"
PLACEHOLDER = ARG_PLACEHOLDER

SecretReader = Callable[[str, str, str], str]
"""`read_secret(namespace, name, key) -> value`; raises `LookupError` when there is none."""


class ArgsError(ValueError):
    """The run's arguments cannot be resolved or substituted; the message says how to fix it."""


class MissingSecret(LookupError):
    """The Secret, or the key in it, does not exist (or does not hold UTF-8 text)."""


@dataclass(frozen=True)
class ResolvedArgs:
    """Argument values by name; `secret_names` are those read from Secrets.

    The repr shows names only, so a resolved set can be logged without leaking anything.
    """

    values: Mapping[str, str] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}=<secret>" if name in self.secret_names else f"{name}={value!r}"
            for name, value in sorted(self.values.items())
        )
        return f"ResolvedArgs({shown})"

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The non-empty secret values, longest first."""
        found = {self.values[name] for name in self.secret_names if self.values.get(name)}
        return tuple(sorted(found, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """`text` with every secret value (also URL- and JSON-escaped) replaced by `*****`."""
        for secret in self.secrets:
            for form in secret_forms(secret):
                text = text.replace(form, REDACTED)
        return text

    def redact_all(self, value: Any) -> Any:
        """`redact` applied to every string in a JSON-like value (measurement metadata)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_all(item) for item in value]
        return value


def resolve_args(run: dict[str, Any], read_secret: SecretReader) -> ResolvedArgs:
    """The values of `run.spec.args`; raises `ArgsError` listing every argument that has none."""
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    values: dict[str, str] = {}
    secret_names: set[str] = set()
    problems: list[str] = []
    for index, arg in enumerate((run.get("spec") or {}).get("args") or []):
        name = arg.get("name") if isinstance(arg, dict) else None
        if not name:
            problems.append(f"spec.args[{index}] has no name")
            continue
        name = str(name)
        if arg.get("value") is not None:
            values[name] = str(arg["value"])
            secret_names.discard(name)
            continue
        source = arg.get("valueFrom") if isinstance(arg.get("valueFrom"), dict) else {}
        secret_ref = source.get("secretKeyRef")
        if isinstance(secret_ref, dict):
            try:
                values[name] = _read(read_secret, namespace, secret_ref)
            except (LookupError, ValueError) as exc:
                problems.append(f'argument "{name}": {exc}')
                continue
            secret_names.add(name)
        elif source.get("fieldRef") is not None or source.get("podTemplateHashValue") is not None:
            kind = "fieldRef" if source.get("fieldRef") is not None else "podTemplateHashValue"
            problems.append(
                f'argument "{name}" still has valueFrom.{kind}, which the Rollout resolves '
                "when it creates the run; give the run a value instead"
            )
        else:
            problems.append(
                f'argument "{name}" has no value: pass it from the Rollout '
                "(spec.strategy.canary...analysis.args) or give it a default"
            )
    if problems:
        raise ArgsError("; ".join(problems))
    return ResolvedArgs(values, frozenset(secret_names))


def _read(read_secret: SecretReader, namespace: str, ref: dict[str, Any]) -> str:
    name, key = ref.get("name"), ref.get("key")
    if not name or not key:
        raise ValueError("valueFrom.secretKeyRef needs both name and key")
    return read_secret(namespace, str(name), str(key))


def substitute(metric: dict[str, Any], args: ResolvedArgs) -> dict[str, Any]:
    """A copy of `metric` with every `{{args.NAME}}` replaced by its value.

    Raises `ArgsError` naming each undeclared argument and where it is used
    (`provider.prometheus.query`). Other `{{...}}` text is left alone.
    """
    unknown: list[tuple[str, str]] = []
    result = _walk(metric, "", args, unknown)
    metric_name = metric.get("name") or "?"
    if unknown:
        uses = ", ".join(f"{{{{args.{name}}}}} in {path}" for name, path in unknown)
        names = ", ".join(sorted({name for name, _ in unknown}))
        raise ArgsError(f'metric "{metric_name}" uses undeclared arguments ({uses}); '
                        f"declare {names} in the template's spec.args")
    problems = setting_problems(metric, result, args)
    if problems:
        raise ArgsError("; ".join(f'metric "{metric_name}": {problem}' for problem in problems)
                        + ": fix the argument's value (the Rollout's analysis args, or the "
                        "template's default)")
    return dict(result)


SETTINGS: tuple[tuple[str, str], ...] = (
    ("interval", "duration"),
    ("initialDelay", "duration"),
    ("count", "integer"),
    ("failureLimit", "integer"),
    ("inconclusiveLimit", "integer"),
    ("consecutiveErrorLimit", "integer"),
    ("provider.prometheus.timeout", "integer"),
    ("provider.web.timeoutSeconds", "integer"),
)
"""The scalar settings of a metric that may be `{{args.NAME}}`, and what they must become."""


def setting_problems(original: dict[str, Any], substituted: dict[str, Any],
                     args: ResolvedArgs) -> list[str]:
    """Each setting written as a placeholder in `original` that is not valid in `substituted`.

    `count "abc" (from {{args.count}}) is not an integer`; secret values are redacted.
    """
    problems: list[str] = []
    for path, kind in SETTINGS:
        written, value = _lookup(original, path), _lookup(substituted, path)
        if not isinstance(written, str) or not PLACEHOLDER.search(written):
            continue
        reason = _invalid(value, kind)
        if reason is not None:
            shown = json.dumps(args.redact(str(value)), ensure_ascii=False)
            problems.append(f"{path} {shown} (from {written}) {reason}")
    return problems


def _lookup(metric: dict[str, Any], path: str) -> Any:
    value: Any = metric
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _invalid(value: Any, kind: str) -> str | None:
    """Why `value` is not a valid setting of `kind`, or None when it is."""
    if kind == "integer":
        try:
            valid = IntOrArg.parse(value).value is not None
        except SpecError:
            valid = False
        return None if valid else "is not an integer"
    try:
        Duration.parse(value)
    except SpecError:
        return "is not a duration (write e.g. 30s, 5m or 1h)"
    return None


def _walk(value: Any, path: str, args: ResolvedArgs, unknown: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        return _replace(value, path, args, unknown)
    if isinstance(value, dict):
        return {
            _replace(str(key), _join(path, str(key)), args, unknown):
                _walk(item, _join(path, str(key)), args, unknown)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item, f"{path}[{index}]", args, unknown) for index, item in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _replace(text: str, path: str, args: ResolvedArgs, unknown: list[tuple[str, str]]) -> str:
    if "{{" not in text:
        return text

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        value = args.get(name)
        if value is None:
            unknown.append((name, path or "(root)"))
            return match.group(0)
        return value

    return PLACEHOLDER.sub(value_of, text)


def placeholders(metric: dict[str, Any]) -> list[str]:
    """The argument names a metric refers to (for linting a template)."""
    found: list[tuple[str, str]] = []
    _walk(metric, "", ResolvedArgs(), found)
    return sorted({name for name, _ in found})


def kube_secret_reader(client: KubeClient) -> SecretReader:
    """A `SecretReader` that GETs the Secret (no cache, so rotated values are picked up).

    A missing Secret or key raises `MissingSecret`; other `KubeError`s propagate.
    """

    def read_secret(namespace: str, name: str, key: str) -> str:
        try:
            secret = client.get(SECRET, namespace, name)
        except NotFound:
            raise MissingSecret(
                f'Secret "{name}" does not exist in namespace {namespace}; create it'
            ) from None
        data = secret.get("data") or {}
        if key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise MissingSecret(f'Secret "{name}" has no key "{key}" (its keys: {keys})')
        try:
            return base64.b64decode(str(data[key]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise MissingSecret(f'key "{key}" of Secret "{name}" is not UTF-8 text') from None

    return read_secret
