"""YAML values of the notification ConfigMaps, read without surprises (pure).

Every value of `argocd-notifications-cm` (a trigger, a template, a service, the
subscriptions) is a YAML document inside a string. They are read with the safe loader,
with aliases refused (an alias-expansion "billion laughs" would make a later walk over
the value, such as resolving `$secret` references, unbounded) and within a size bound.

Neighbours: `rollouts.notifications.config` and `services` parse with `load`.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_VALUE_BYTES", "load"]

MAX_VALUE_BYTES = 256 * 1024
"""Longest ConfigMap value read (a ConfigMap holds at most 1 MiB in all)."""

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NoAliases(yaml.SafeLoader):
    """The safe loader, refusing `*alias` references."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not allowed here")
        return super().compose_node(parent, index)


def load(text: str) -> Any:
    """The YAML value of `text`; ValueError with a one-line reason when it is not usable."""
    if len(text) > MAX_VALUE_BYTES:
        raise ValueError(f"is {len(text)} characters long; the limit is {MAX_VALUE_BYTES}")
    try:
        return yaml.load(text, Loader=_NoAliases)  # a SafeLoader subclass
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        reason = getattr(problem, "problem", None) or str(problem)
        raise ValueError(f"is not valid YAML{where}: {reason}".splitlines()[0]) from None
