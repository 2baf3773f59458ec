"""Secret data kept out of everything we show: diffs, status messages, events and logs.

Two tools, both pure:

- **Objects** (`hide_secret_data`, `mask_object`): Argo CD's masking of a core `Secret`
  (gitops-engine `HideSecretData`). `stringData` is first folded into `data` (base64),
  then, key by key, each *distinct* value among the desired object, the live object and
  the live object's `kubectl.kubernetes.io/last-applied-configuration` gets its own
  run of `+`: the first value seen (desired first) `++++++++` (8), the next one 12, then
  16 ... So equal values show the same mask and a changed value shows a longer one:
  a diff still says *that* a key changed, never *what* it holds.

      desired data: {password: czNjcjN0}      ->  {password: ++++++++}
      live data:    {password: b2xk, user: YQ==} -> {password: ++++++++++++, user: ++++++++}

  The last-applied annotation's own `data` is masked the same way (an annotation that is
  not JSON is replaced whole). Objects of other kinds pass through unchanged.

- **Text** (`secret_values`, `scrub`, `scrub_messages`): messages we did not write (an
  API server or admission webhook refusing an apply, which may quote the object) pass
  through `scrub`, which replaces every known Secret value of the Application's objects
  (as stored, base64-decoded, JSON-escaped, and each line of a multi-line value) by
  `++++++++`. Values shorter than `MIN_SECRET_VALUE` characters are left alone (their
  base64 form is still looked for): masking every `true`, `prod` or `80` would garble
  the message and protect nothing; nor are values equal to the names the message is
  about (`without_names`: the app's name, namespaces, project), since a Secret holding
  `shop` must not blank the app's own name in every message. `scrub_messages` applies
  it to every `message` field of a status, and only there: names, namespaces and
  revisions are never touched. (Argo CD masks Secrets in diffs only and scrubs no
  message: this is stricter than Argo CD, not a change of what it shows.)

Neighbours: `reconciler.diff` (the diff view), `reconciler.controller` (status, events,
errors that reach the log), `rollouts.cli.app_view` (`app diff`'s pruned objects).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "LAST_APPLIED",
    "MASK",
    "MIN_SCRUBBED",
    "MIN_SECRET_VALUE",
    "hide_secret_data",
    "is_secret",
    "mask_object",
    "scrub",
    "scrub_messages",
    "secret_values",
    "without_names",
]

Obj = dict[str, Any]
MASK = "++++++++"
"""The mask of the first distinct value of a key (Argo CD's: `+`, not `*`)."""
_LONGER = "++++"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MIN_SCRUBBED = 4
"""Shortest value `scrub` looks for in text (a credential given to Git or Helm)."""
MIN_SECRET_VALUE = 6
"""Shortest form of an app's Secret value `secret_values` collects: shorter ones are
flags and ordinary words (`true`, `admin`, `prod`) far more often than secrets."""
_MAX_SCRUBBED_VALUES = 10_000
"""Values one scrub looks for at most (longest first): bounds the pattern's size."""


def is_secret(obj: Any) -> bool:
    """Whether `obj` is a core `v1` Secret (not some CRD also called Secret)."""
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return False
    api_version = str(obj.get("apiVersion") or "")
    return "/" not in api_version


def _normalized(obj: Obj) -> Obj:
    """A copy with `stringData` folded into `data`, base64 encoded (as the API server does)."""
    out = copy.deepcopy(obj)
    string_data = out.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(out["data"]) if isinstance(out.get("data"), dict) else {}
        for name, value in string_data.items():
            data[name] = base64.b64encode(_text(value).encode()).decode()
        out["data"] = data
    return out


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _last_applied(live: Obj) -> tuple[Obj | None, bool]:
    """The live object's last-applied configuration, and whether the annotation exists."""
    annotations = (live.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return None, False
    try:
        parsed = json.loads(str(annotations[LAST_APPLIED]))
    except ValueError:
        return None, True
    return (parsed if isinstance(parsed, dict) else None), True


def hide_secret_data(target: Obj | None, live: Obj | None) -> tuple[Obj | None, Obj | None]:
    """`target` (desired) and `live` with Secret data masked (see the module docstring).

    Returns copies; a side that is None or not a Secret comes back as it was given.
    """
    target_is = is_secret(target)
    live_is = is_secret(live)
    if not (target_is or live_is):
        return target, live
    shown_target = _normalized(target) if target is not None and target_is else None
    shown_live = _normalized(live) if live is not None and live_is else None
    last_applied, annotated = _last_applied(shown_live) if shown_live is not None else \
        (None, False)
    if last_applied is not None:
        last_applied = _normalized(last_applied)
    sides = [obj for obj in (shown_target, shown_live, last_applied) if obj is not None]
    keys: set[str] = set()
    for obj in sides:
        if isinstance(obj.get("data"), dict):
            keys.update(str(name) for name in obj["data"])
    for name in sorted(keys):
        masks: dict[str, str] = {}
        following = MASK
        for obj in sides:  # desired, live, last-applied: the order Argo CD numbers them in
            data = obj.get("data")
            if not isinstance(data, dict) or name not in data:
                continue
            value = _text(data[name])
            if value not in masks:
                masks[value] = following
                following += _LONGER
            data[name] = masks[value]
    if shown_live is not None and annotated:
        annotations = shown_live["metadata"]["annotations"]
        annotations[LAST_APPLIED] = MASK if last_applied is None else \
            json.dumps(last_applied, sort_keys=True, separators=(",", ":"))
    return (shown_target if target_is else target), (shown_live if live_is else live)


def mask_object(obj: Obj) -> Obj:
    """One object for display: a Secret's data (and last-applied copy) masked."""
    return hide_secret_data(None, obj)[1] or obj


# --- text -----------------------------------------------------------------------------


def _forms(text: str) -> set[str]:
    """The ways `text` may appear inside a message: as is, JSON-escaped, line by line."""
    forms = {text, json.dumps(text)[1:-1]}
    if "\n" in text:
        forms.update(line.strip() for line in text.splitlines())
    return {form for form in forms if len(form) >= MIN_SECRET_VALUE}


def _decoded(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def _values_of(obj: Obj) -> set[str]:
    found: set[str] = set()
    for section in ("data", "stringData"):
        values = obj.get(section)
        if not isinstance(values, dict):
            continue
        for value in values.values():
            text = _text(value)
            found |= _forms(text)
            if section == "data":
                decoded = _decoded(text)
                if decoded is not None:
                    found |= _forms(decoded)
            else:
                found |= _forms(base64.b64encode(text.encode()).decode())
    return found


def secret_values(objects: Iterable[Any]) -> frozenset[str]:
    """Every value of the Secrets among `objects` (and of their last-applied copies), in
    the forms a message may quote them, `MIN_SECRET_VALUE` characters or longer."""
    found: set[str] = set()
    for obj in objects:
        if not is_secret(obj):
            continue
        found |= _values_of(obj)
        last_applied, _ = _last_applied(obj)
        if last_applied is not None:
            found |= _values_of(last_applied)
    return frozenset(found)


@functools.lru_cache(maxsize=64)
def _pattern(values: frozenset[str]) -> re.Pattern[str]:
    # Longest first, so a value that contains another is replaced whole.
    ordered = sorted(values, key=lambda value: (-len(value), value))[:_MAX_SCRUBBED_VALUES]
    return re.compile("|".join(re.escape(value) for value in ordered))


def without_names(values: frozenset[str], names: Iterable[object]) -> frozenset[str]:
    """`values` less the `names` a message is about (see the module docstring)."""
    shown = {name for name in names if isinstance(name, str) and name}
    return values - shown if shown & values else values


def scrub(text: str, values: frozenset[str], replacement: str = MASK) -> str:
    """`text` with every occurrence of the `values` (`MIN_SCRUBBED` characters or
    longer, the longest first) replaced by `replacement`. The one text scrubber: Git
    and Helm errors go through it too (`reconciler.source_secrets.Redactor`)."""
    values = frozenset(value for value in values if len(value) >= MIN_SCRUBBED)
    if not values or not text:
        return text
    return _pattern(values).sub(lambda _found: replacement, text)


def scrub_messages(obj: Any, values: frozenset[str]) -> Any:
    """`obj` (a status, a list of results) with every string under a `message` key
    scrubbed; everything else as it was. Returns `obj` itself when there is nothing to
    look for."""
    if not values:
        return obj
    if isinstance(obj, dict):
        return {key: scrub(value, values) if key == "message" and isinstance(value, str)
                else scrub_messages(value, values) for key, value in obj.items()}
    if isinstance(obj, list):
        return [scrub_messages(item, values) for item in obj]
    return obj
