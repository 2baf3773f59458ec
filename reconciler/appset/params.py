"""Parameter sets as Argo CD's ApplicationSet generators shape them (pure).

A generator yields a list of parameter sets. With `goTemplate: false` (fasttemplate
mode) a set is flat: `{"path": "apps/web", "path.basename": "web", "path[0]": "apps",
"metadata.labels.env": "prod", "values.tier": "gold"}`, every value a string. With
`goTemplate: true` it is nested: `{"path": {"path": "apps/web", "basename": "web",
"segments": ["apps", "web"]}, "metadata": {"labels": {"env": "prod"}}}`, read in
templates as `{{.path.basename}}`.

Helpers here, shared by the generators (`reconciler.appset.generators`,
`reconciler.appset.git`) and the generator `selector`:

- `normalize(name)`: Argo's `SanitizeName` (`nameNormalized`, `basenameNormalized`),
  the templates' own `rollouts.templating.normalize`, re-exported;
- `go_string(value)`: a value printed as Go's `fmt.Sprint` prints it (flattened file
  parameters, selector matching): `true`, `3`, `1.5`, `1e+06`, `<nil>`;
- `flatten(obj)`: nested maps and lists to dotted keys (`a.b`, `list.0`);
- `path_params(...)`: the `path` family of the git generators;
- `matches_selector(params, selector)`: a Kubernetes label selector over the flattened
  set (`matchLabels`, `matchExpressions` In / NotIn / Exists / DoesNotExist);
- `combine_flat(a, b)` / `deep_merge(base, override)`: how matrix and merge join sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rollouts.templating import normalize

__all__ = [
    "Params",
    "combine_flat",
    "deep_merge",
    "flatten",
    "go_string",
    "matches_selector",
    "normalize",
    "path_params",
    "selector_problem",
]

Params = dict[str, Any]

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _go_float(value: float) -> str:
    # Go's %v of a float64 (strconv 'g', shortest digits): %e form when the decimal
    # exponent is < -4 or >= 6 (`1e+06`), plain digits otherwise (`8080`, `0.5`).
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    shortest = Decimal(repr(value)).normalize()
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    decimal_exponent = len(digits) + exponent - 1
    minus = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = "".join(map(str, digits))
        mantissa = mantissa[0] + (f".{mantissa[1:]}" if len(mantissa) > 1 else "")
        where = "-" if decimal_exponent < 0 else "+"
        return f"{minus}{mantissa}e{where}{abs(decimal_exponent):02d}"
    return f"{minus}{format(abs(shortest), 'f')}"


def go_string(value: Any) -> str:
    """`value` as Go's `fmt.Sprint` prints a JSON-decoded value (numbers are float64).

    >>> [go_string(v) for v in (True, None, 3, 2.5, 1000000, "x", [1, "a"])]
    ['true', '<nil>', '3', '2.5', '1e+06', 'x', '[1 a]']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        # Decoded JSON/YAML numbers are float64 in Go: 1000000 prints as 1e+06 there.
        return _go_float(float(value)) if abs(value) < 2**53 else str(value)
    if isinstance(value, list):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{go_string(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    return str(value)


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested maps and lists as dotted keys, each value a `go_string`.

    >>> flatten({"a": {"b": 1}, "l": ["x", {"y": True}]})
    {'a.b': '1', 'l.0': 'x', 'l.1.y': 'true'}
    """
    out: dict[str, str] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for child, inner in value.items():
                walk(f"{key}.{child}" if key else str(child), inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{key}.{index}" if key else str(index), inner)
        else:
            out[key] = go_string(value)

    for name, value in obj.items():
        walk(f"{prefix}{name}", value)
    return out


def path_params(directory: str, *, go_template: bool, prefix: str = "",
                filename: str | None = None) -> Params:
    """The `path` parameters of a git directory (or, with `filename`, of a file in it).

    Flat: `path`, `path.basename`, `path.basenameNormalized`, `path[N]` (non-empty
    segments only), and for files `path.filename`, `path.filenameNormalized`. Go
    template: the same under `path` as `path`, `basename`, ..., `segments` (all segments).
    `prefix` is `pathParamPrefix` (`{prefix}.path...` / `{prefix: {path: ...}}`).

    >>> path_params("apps/web", go_template=False)["path[1]"]
    'web'
    """
    basename = directory.rsplit("/", 1)[-1]
    segments = directory.split("/")
    if go_template:
        fields: Params = {"path": directory, "basename": basename,
                          "basenameNormalized": normalize(basename), "segments": segments}
        if filename is not None:
            fields["filename"] = filename
            fields["filenameNormalized"] = normalize(filename)
        return {prefix: {"path": fields}} if prefix else {"path": fields}
    name = f"{prefix}.path" if prefix else "path"
    flat: Params = {name: directory, f"{name}.basename": basename,
                    f"{name}.basenameNormalized": normalize(basename)}
    if filename is not None:
        flat[f"{name}.filename"] = filename
        flat[f"{name}.filenameNormalized"] = normalize(filename)
    for index, segment in enumerate(segments):
        if segment:
            flat[f"{name}[{index}]"] = segment
    return flat


def selector_problem(selector: Any, where: str) -> str | None:
    """Why `selector` is not a label selector, or None."""
    if selector is None:
        return None
    if not isinstance(selector, Mapping):
        return f"{where}: must be an object with matchLabels and/or matchExpressions"
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        return f"{where}.matchLabels: must be a map of strings"
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        return f"{where}.matchExpressions: must be a list"
    for index, expression in enumerate(expressions):
        at = f"{where}.matchExpressions[{index}]"
        if not isinstance(expression, Mapping) or not isinstance(expression.get("key"), str):
            return f"{at}: needs a key"
        operator = expression.get("operator")
        if operator not in _OPERATORS:
            return f"{at}.operator: {operator!r} is not one of {', '.join(_OPERATORS)}"
        values = expression.get("values") or []
        if not isinstance(values, list):
            return f"{at}.values: must be a list"
        if operator in ("In", "NotIn") and not values:
            return f"{at}.values: {operator} needs at least one value"
        if operator in ("Exists", "DoesNotExist") and values:
            return f"{at}.values: {operator} takes no values"
    return None


def matches_selector(params: Mapping[str, Any], selector: Mapping[str, Any] | None) -> bool:
    """Whether the flattened `params` satisfy the label selector (checked already by
    `selector_problem`); no selector matches everything."""
    if not selector:
        return True
    flat = flatten(params)
    for key, value in (selector.get("matchLabels") or {}).items():
        if flat.get(str(key)) != go_string(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = str(expression["key"]), expression["operator"]
        values = {go_string(v) for v in expression.get("values") or []}
        present = key in flat
        if operator == "In" and not (present and flat[key] in values):
            return False
        if operator == "NotIn" and present and flat[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def combine_flat(first: Mapping[str, Any], second: Mapping[str, Any]) -> Params:
    """Two flat sets as one (the matrix generator); a key in both with different values
    is an error, as in Argo."""
    combined: Params = dict(first)
    for key, value in second.items():
        if key in combined and combined[key] != value:
            raise ValueError(f"found duplicate key {key} with different value, "
                             f"a: {combined[key]} ,b: {value}")
        combined[key] = value
    return combined


def _empty(value: Any) -> bool:
    # mergo's notion of "not set": the zero value of the field.
    return value is None or value == "" or value is False or value == 0 or \
        (isinstance(value, (list, dict)) and not value)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any], *,
               skip_empty: bool = False) -> Params:
    """`base` with `override` laid over it, maps merged key by key, `override` winning;
    with `skip_empty`, an empty value of `override` (None, "", 0, false, [], {}) keeps
    the `base` value (mergo's merge, for templates)."""
    merged: Params = dict(base)
    for key, value in override.items():
        if skip_empty and _empty(value):
            continue
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value, skip_empty=skip_empty)
        else:
            merged[key] = value
    return merged
