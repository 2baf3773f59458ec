"""Whether an object is already what applying it would make: the dry run can be skipped.

`reconciler.diff.diff_object` asks the API server for a server-side apply dry run of
each object. For an object that is in sync that answer is known in advance when both
hold:

1. our field manager holds, in one `Apply` entry of the live object's managedFields at
   the desired object's apiVersion, **exactly** the fields the desired body sets (no
   more: a field we applied before and Git dropped would be removed; no fewer: a field
   Git sets that we do not own may be another controller's, which the diff must see);
2. every value the desired body sets is already in the live object, equal (strictly:
   `true` is not `1`, `"1"` is not `1`): a leaf of the field set (a scalar, or an atomic
   map or list, which an apply replaces whole) exactly, a map key by key (other
   managers' keys may be there too), a list item by item, in order, none more.

Then applying the body changes no value (each is already there), removes nothing (we own
nothing else), and the server's defaulting has nothing left to add: the dry run's result
is the live object. Anything the check cannot prove (a list item the field set cannot
identify, a `null`, a quantity the server rewrote, a port whose defaulted `protocol` is
part of its key, a manager entry of another apiVersion) answers False and the dry run is
asked as before. So the check only ever saves a request; it never decides drift.

This matters at scale: right after a sync every object is in this state (the sync's
apply made it so), and `rollouts app diff` of 1,000 objects in sync asked 1,000 dry runs.

Pure; neighbours: `reconciler.diff` (the caller), `reconciler.diff_fields` (field sets).
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.diff_fields import SELF, FieldSet

__all__ = ["already_applied"]

_IDENTITY = ("name", "namespace")
"""metadata fields a field set never names (nor `apiVersion`, `kind`)."""


def _our_entry(live: dict[str, Any], field_manager: str, api_version: str) -> FieldSet | None:
    """Our manager's one `Apply` field set at `api_version`, or None (none, several, an
    `Update`, another version)."""
    entries = [entry for entry in (live.get("metadata") or {}).get("managedFields") or []
               if isinstance(entry, dict) and entry.get("manager") == field_manager
               and not entry.get("subresource")]
    if len(entries) != 1:
        return None
    entry = entries[0]
    fields = entry.get("fieldsV1")
    if entry.get("operation") != "Apply" or entry.get("apiVersion") != api_version or \
            not isinstance(fields, dict):
        return None
    return fields


def _equal(desired: Any, live: Any) -> bool:
    """Deep equality with strict scalar types (`true` is not `1`, `"1"` is not `1`)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and desired.keys() == live.keys() and all(
            _equal(value, live[key]) for key, value in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(
            _equal(a, b) for a, b in zip(desired, live, strict=True))
    if desired is None or isinstance(desired, bool) or isinstance(live, bool):
        return desired is not None and type(desired) is type(live) and desired == live
    if isinstance(desired, int | float):
        return isinstance(live, int | float) and desired == live
    return type(desired) is type(live) and bool(desired == live)


def _item_key(item: Any, fields: FieldSet) -> str | None:
    """The one entry of `fields` that names list item `item` (by key or value), or None."""
    if isinstance(item, dict):
        matches = [key for key in fields if key.startswith("k:") and _keyed(key, item)]
    else:
        encoded = json.dumps(item, separators=(",", ":"))
        matches = [key for key in fields if key == f"v:{encoded}"]
    return matches[0] if len(matches) == 1 else None


def _keyed(key: str, item: dict[str, Any]) -> bool:
    try:
        wanted = json.loads(key[2:])
    except ValueError:
        return False
    return isinstance(wanted, dict) and bool(wanted) and all(
        name in item and _equal(value, item[name]) for name, value in wanted.items())


def _settled(desired: Any, live: Any, fields: FieldSet) -> bool:
    """`fields` (our field set at this path) names exactly the leaves of `desired`, and
    `live` holds every one of them: a leaf (a scalar, an atomic map or list: the apply
    replaces it whole) equal as it is; a map's keys each (others' keys may be there
    too); a list's items one for one, in order (an item of another manager would be
    an extra one: not settled)."""
    if desired is None:
        return False
    if not fields:
        return _equal(desired, live)
    children = {key: node for key, node in fields.items() if key != SELF}
    if isinstance(desired, dict):
        return isinstance(live, dict) and \
            set(children) == {f"f:{name}" for name in desired} and all(
                name in live and _settled(value, live[name], children[f"f:{name}"])
                for name, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or not len(children) == len(desired) == len(live):
            return False
        seen: set[str] = set()
        for item, live_item in zip(desired, live, strict=True):
            key = _item_key(item, children)
            if key is None or key in seen or _item_key(live_item, children) != key or \
                    not _settled(item, live_item, children[key]):
                return False
            seen.add(key)
        return True
    return False  # a scalar where the field set has children


def already_applied(body: dict[str, Any], live: dict[str, Any], field_manager: str) -> bool:
    """True when a forced server-side apply of `body` (`reconciler.diff.apply_body`) by
    `field_manager` would leave `live` as it is (see the module docstring)."""
    api_version = body.get("apiVersion")
    if not isinstance(api_version, str) or live.get("apiVersion") != api_version:
        return False
    fields = _our_entry(live, field_manager, api_version)
    if fields is None:
        return False
    owned = {key: value for key, value in body.items() if key not in ("apiVersion", "kind")}
    metadata = {key: value for key, value in (owned.get("metadata") or {}).items()
                if key not in _IDENTITY}
    if metadata:
        owned["metadata"] = metadata
    else:
        owned.pop("metadata", None)
    return _settled(owned, live, fields)
