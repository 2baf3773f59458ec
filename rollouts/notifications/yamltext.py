"""YAML values of the notification ConfigMaps, read without surprises (pure).

Every value of `argocd-notifications-cm` (a trigger, a template, a service, the
subscriptions) is a YAML document inside a string. They are read with the project's
bounded loader (`rollouts.boundedyaml`): within a size bound, aliases allowed only while
their expansion stays small (a "billion laughs" would make a later walk over the value,
such as resolving `$secret` references, unbounded), nesting at most `MAX_DEPTH` levels
(those walks recurse), and any parser failure a one-line reason, never an exception
other than ValueError.

Neighbours: `rollouts.notifications.config` and `services` parse with `load`.
"""

from __future__ import annotations

from typing import Any

from rollouts.boundedyaml import YamlProblem, load_documents

__all__ = ["MAX_DEPTH", "MAX_VALUE_BYTES", "load"]

MAX_VALUE_BYTES = 256 * 1024
"""Longest ConfigMap value read (a ConfigMap holds at most 1 MiB in all)."""
MAX_DEPTH = 50
"""Deepest nesting of a value (real settings stay under ~10)."""
_MAX_ALIAS_NODES = 10_000
_MAX_EXPANDED_BYTES = 4 * MAX_VALUE_BYTES


def load(text: str) -> Any:
    """The YAML value of `text`; ValueError with a one-line reason when it is not usable."""
    if len(text) > MAX_VALUE_BYTES:
        raise ValueError(f"is {len(text)} characters long; the limit is {MAX_VALUE_BYTES}")
    try:
        documents = load_documents(text, max_alias_nodes=_MAX_ALIAS_NODES,
                                   max_expanded_bytes=_MAX_EXPANDED_BYTES,
                                   max_depth=MAX_DEPTH)
    except YamlProblem as problem:
        raise ValueError(f"is not valid YAML: {problem}".splitlines()[0]) from None
    if len(documents) > 1:
        raise ValueError("is not valid YAML: it holds more than one document; keep one")
    return documents[0][1] if documents else None
