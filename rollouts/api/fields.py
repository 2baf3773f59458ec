"""Fields nobody reads: Argo fields we do not implement yet, and fields nobody knows (typos).

Models keep every key they do not declare (`extra="allow"`), so nothing is lost, and this
module lists those keys with their full paths:

- a key named in the model's `unsupported_fields` is a real Argo field outside our subset:
  a **warning**, "not supported yet", with a note on what to do instead;
- any other key is unknown, most likely a typo: an **error**, with a suggestion when a known
  field is close (`stableServce` -> `stableService`, `stable_service` -> `stableService`);
- under `status` and `operation` (written by controllers, not people) an unknown key is
  only a warning.

`docs/unsupported-fields.md` documents `unsupported_field_catalog()`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from rollouts.api.common import ApiModel
from rollouts.api.errors import Problem, Severity, child_path

__all__ = ["field_problems", "unsupported_field_catalog"]

_CONTROLLER_OWNED = frozenset({"status", "operation"})


def field_problems(model: ApiModel, path: str = "") -> list[Problem]:
    """Unknown and not-yet-supported fields anywhere in `model`, with their full paths."""
    problems: list[Problem] = []
    _walk(model, path, lenient=False, problems=problems)
    return problems


def _walk(value: object, path: str, *, lenient: bool, problems: list[Problem]) -> None:
    if isinstance(value, ApiModel):
        _check_model(value, path, lenient=lenient, problems=problems)
    elif isinstance(value, list):
        # Lists of models (steps, metrics...); plain dicts (pod templates) hold no model.
        for index, item in enumerate(value):
            if isinstance(item, ApiModel | list):
                _walk(item, child_path(path, index), lenient=lenient, problems=problems)


def _check_model(model: ApiModel, path: str, *, lenient: bool, problems: list[Problem]) -> None:
    cls = type(model)
    for key in model.model_extra or {}:
        problems.append(_extra_problem(cls, str(key), child_path(path, str(key)), lenient))
    for name, info in cls.model_fields.items():
        value = getattr(model, name)
        if value is None:
            continue
        key = info.alias or name
        child_lenient = lenient or (not path and key in _CONTROLLER_OWNED)
        _walk(value, child_path(path, key), lenient=child_lenient, problems=problems)


def _extra_problem(cls: type[ApiModel], key: str, path: str, lenient: bool) -> Problem:
    note = cls.unsupported_fields.get(key) or cls.unsupported_fields.get("*")
    if note is not None:
        return Problem(path, f"not supported yet, so it has no effect: {note}", Severity.WARNING)
    suggestion = _suggest(cls, key)
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    if lenient:
        return Problem(path, f"unknown field {key!r}{hint}; kept as is", Severity.WARNING)
    return Problem(path, f"unknown field {key!r}{hint}: fix its spelling or remove it")


def _suggest(cls: type[ApiModel], key: str) -> str | None:
    known = [info.alias or name for name, info in cls.model_fields.items()]
    known.extend(name for name in cls.unsupported_fields if name != "*")
    camel = to_camel(key)
    if camel != key and camel in known:
        return camel
    lowered = {name.lower(): name for name in known}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return close[0] if close else None


def unsupported_field_catalog(*roots: type[ApiModel]) -> list[tuple[str, str, str]]:
    """(model name, Argo field, note) for every field we accept but do not implement.

    With no arguments, covers every model reachable from our kinds.
    """
    if not roots:
        from rollouts.api.kinds import KINDS

        roots = tuple(KINDS.values())
    rows: list[tuple[str, str, str]] = []
    emitted: set[int] = set()  # a subclass shares its base's mapping; list it once
    for cls in _reachable_models(roots):
        if id(cls.unsupported_fields) in emitted:
            continue
        emitted.add(id(cls.unsupported_fields))
        owner = next(base for base in cls.__mro__ if "unsupported_fields" in vars(base))
        rows.extend((owner.__name__, key, note) for key, note in cls.unsupported_fields.items())
    return rows


def _reachable_models(roots: tuple[type[ApiModel], ...]) -> list[type[ApiModel]]:
    seen: dict[type[ApiModel], None] = {}
    pending = list(roots)
    while pending:
        cls = pending.pop(0)
        if cls in seen:
            continue
        seen[cls] = None
        for info in cls.model_fields.values():
            pending.extend(_models_in(info.annotation))
    return list(seen)


def _models_in(annotation: Any) -> Iterator[type[ApiModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if issubclass(annotation, ApiModel):
            yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)
