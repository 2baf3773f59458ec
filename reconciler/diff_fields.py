"""Field sets of server-side apply (`managedFields[].fieldsV1`), as sets of paths.

A field set is the API server's FieldsV1 JSON, kept as nested dicts (`FieldSet`):

    {"f:spec": {"f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    'k:{"name":"main"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}

- `f:<name>` is a field of a map; `k:<json>` a list item found by its key fields
  (containers by `name`, ports by `containerPort`+`protocol`); `v:<json>` an item of a
  set-like list of scalars; `i:<n>` a list item by index;
- `{}` (a leaf) means the path itself is in the set, and with it its whole value (an
  atomic map or list such as a Service's `spec.selector` or a container's `command`);
- `"."` inside a node means the node itself (the list item or map) is in the set too.

`project(obj, fields)` keeps only the parts of an object that a field set names: the diff
projects the dry-run result and the live object onto the fields our manager applies, so
defaulted fields and fields of other managers never show. `union`, `intersect` and
`subtract` follow path-set semantics; `drop_fields` removes paths from an object to be
applied (fields we leave to another manager); `field_paths` names the leaves for people
(`spec.template.spec.containers[name=main].image`). Pure; neighbour: `reconciler.diff`.
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypeAlias

__all__ = [
    "FieldSet",
    "drop_fields",
    "field_paths",
    "intersect",
    "manager_fields",
    "managers_of",
    "project",
    "strip_self",
    "subtract",
    "union",
]

FieldSet: TypeAlias = dict[str, "FieldSet"]
SELF = "."


def managers_of(obj: dict[str, Any]) -> set[str]:
    """The names of every manager with an entry in the object's managedFields."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return {str(e.get("manager") or "") for e in entries if isinstance(e, dict)}


def manager_fields(
    obj: dict[str, Any], manager: str, *, include_subresources: bool = True
) -> FieldSet:
    """The union of the field sets `manager` holds on `obj` (all its operations).

    Entries for subresources (an HPA writes `spec.replicas` through `/scale`) name fields
    of the parent object, so they count unless `include_subresources` is False.
    """
    result: FieldSet = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or entry.get("manager") != manager:
            continue
        if entry.get("subresource") and not include_subresources:
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, dict):
            result = union(result, fields)
    return result


# --- set algebra ----------------------------------------------------------------------


def _is_member(node: FieldSet) -> bool:
    """Whether the path of `node` itself is in the set (a leaf, or a node marked ".")."""
    return not node or SELF in node


def union(a: FieldSet, b: FieldSet) -> FieldSet:
    """Every path in `a` or in `b`."""
    result: FieldSet = {}
    for key in a.keys() | b.keys():
        if key not in b:
            result[key] = copy.deepcopy(a[key])
        elif key not in a:
            result[key] = copy.deepcopy(b[key])
        elif not a[key] and not b[key]:
            result[key] = {}
        elif not a[key] or not b[key]:
            node = copy.deepcopy(a[key] or b[key])
            node[SELF] = {}
            result[key] = node
        else:
            result[key] = union(a[key], b[key])
    return result


def intersect(a: FieldSet, b: FieldSet) -> FieldSet:
    """Every path in both `a` and `b`."""
    result: FieldSet = {}
    for key in a.keys() & b.keys():
        left, right = a[key], b[key]
        if not left and not right:
            result[key] = {}
        elif not left or not right:
            if _is_member(left) and _is_member(right):
                result[key] = {} if not left else {SELF: {}}
        else:
            common = intersect(left, right)
            if common:
                result[key] = common
    return result


def subtract(a: FieldSet, b: FieldSet) -> FieldSet:
    """The paths of `a` that are not in `b`."""
    result: FieldSet = {}
    for key, node in a.items():
        if key not in b:
            result[key] = copy.deepcopy(node)
        elif not node:
            if not _is_member(b[key]):
                result[key] = {}
        elif not b[key]:
            rest = {k: copy.deepcopy(v) for k, v in node.items() if k != SELF}
            if rest:
                result[key] = rest
        else:
            rest = subtract(node, b[key])
            if rest:
                result[key] = rest
    return result


def strip_self(fields: FieldSet) -> FieldSet:
    """Only the leaves: "." markers removed, and nodes left with nothing dropped."""
    result: FieldSet = {}
    for key, node in fields.items():
        if key == SELF:
            continue
        if not node:
            result[key] = {}
            continue
        rest = strip_self(node)
        if rest:
            result[key] = rest
    return result


# --- objects --------------------------------------------------------------------------


def _item_matches(key: str, index: int, item: Any) -> bool:
    kind, _, raw = key.partition(":")
    if kind == "i":
        return raw.lstrip("-").isdigit() and int(raw) == index
    try:
        wanted = json.loads(raw)
    except ValueError:
        return False
    if kind == "v":
        return bool(item == wanted)
    if kind == "k":
        return (isinstance(item, dict) and isinstance(wanted, dict)
                and all(item.get(k) == v for k, v in wanted.items()))
    return False


def _key_fields(key: str) -> dict[str, Any]:
    if not key.startswith("k:"):
        return {}
    try:
        parsed = json.loads(key[2:])
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def project(value: Any, fields: FieldSet) -> Any:
    """The parts of `value` named by `fields` (a leaf keeps the whole value).

    List items keep the object's order; a keyed item also keeps its key fields, so a diff
    shows which container changed.
    """
    if not fields:
        return copy.deepcopy(value)
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, node in fields.items():
            if key.startswith("f:") and key[2:] in value:
                result[key[2:]] = project(value[key[2:]], node)
        return result
    if isinstance(value, list):
        items: list[Any] = []
        for index, item in enumerate(value):
            for key, node in fields.items():
                if key != SELF and _item_matches(key, index, item):
                    projected = project(item, node)
                    if isinstance(projected, dict):
                        projected = {**_key_fields(key), **projected}
                    items.append(projected)
                    break
        return items
    return copy.deepcopy(value)


def _loosely_matches(key: str, index: int, item: Any) -> bool:
    """`_item_matches` for objects not yet defaulted: a key field the item leaves out
    (a port's `protocol`) does not stop the match."""
    if not key.startswith("k:"):
        return _item_matches(key, index, item)
    wanted = _key_fields(key)
    if not isinstance(item, dict) or not wanted:
        return False
    present = [k for k in wanted if k in item]
    return bool(present) and all(item[k] == wanted[k] for k in present)


def drop_fields(value: Any, fields: FieldSet) -> Any:
    """A copy of `value` without the leaf paths of `fields` (maps or lists emptied by the
    removal are removed too)."""
    if not fields:
        return copy.deepcopy(value)
    if isinstance(value, dict):
        result = copy.deepcopy(value)
        for key, node in fields.items():
            name = key[2:]
            if not key.startswith("f:") or name not in result:
                continue
            if not node:
                del result[name]
                continue
            rest = drop_fields(result[name], node)
            if rest in ({}, []) and result[name] not in ({}, []):
                del result[name]
            else:
                result[name] = rest
        return result
    if isinstance(value, list):
        items: list[Any] = []
        for index, item in enumerate(value):
            matched: FieldSet | None = next(
                (n for k, n in fields.items() if k != SELF and _loosely_matches(k, index, item)),
                None)
            if matched is None:
                items.append(copy.deepcopy(item))
            elif matched:
                rest = drop_fields(item, matched)
                if rest not in ({}, []) or item in ({}, []):
                    items.append(rest)
        return items
    return copy.deepcopy(value)


def field_paths(fields: FieldSet, prefix: str = "") -> list[str]:
    """Readable leaf paths: `spec.replicas`, `spec.ports[port=80,protocol=TCP].targetPort`."""
    paths: list[str] = []
    for key in sorted(fields):
        node = fields[key]
        kind, _, raw = key.partition(":")
        if key == SELF:
            continue
        if kind == "f":
            path = f"{prefix}.{raw}" if prefix else raw
        elif kind == "k":
            keys = _key_fields(key)
            path = prefix + "[" + ",".join(f"{k}={v}" for k, v in keys.items()) + "]"
        elif kind == "v":
            path = f"{prefix}[={raw}]"
        else:
            path = f"{prefix}[{raw}]"
        paths.extend([path] if not node else field_paths(node, path))
    return paths
