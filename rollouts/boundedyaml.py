"""YAML from hostile hands, parsed within bounds (pure; PyYAML only).

`load_documents(text, ...)` returns each non-empty document of `text`, numbered from 1,
or raises `YamlProblem` with a one-line reason (without the source's name: the caller
adds it). What it guards against:

- **Alias expansion** ("billion laughs": a 300-byte document expanding to gigabytes once
  copied into JSON or walked): the node graph is measured before it is built, bottom-up
  once per distinct node and without recursion, and refused over `max_alias_nodes` added
  nodes or `max_expanded_bytes` of scalars; an alias that refers to itself is refused.
- **Deep nesting**: libyaml stops at 1000 levels; building or walking a value nested
  hundreds of levels deep can still exhaust Python's recursion limit, so a
  `RecursionError` is a problem like any other, and `max_depth` (when given) refuses
  deeper values before they are built.
- **Surprising types**: timestamps stay strings (`date: 2024-01-01` is the string
  Kubernetes receives) and the broken `=` value tag is off.

libyaml's loader is used when PyYAML was built with it (several times faster).

Neighbours: `reconciler.render_base.load_yaml` (manifests from Git) and
`rollouts.notifications.yamltext.load` (values of the notification ConfigMaps) wrap it
with their own limits and messages. Neither the Rollout nor the Application side owns
it, so both may import it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["PARSE_FAILURES", "YamlProblem", "load_documents", "parse_failure_reason"]

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_KEEP_AS_STRING = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}


class _Loader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader without implicit timestamps (and without the broken `=` value tag)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _KEEP_AS_STRING]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}

PARSE_FAILURES = (RecursionError, ValueError, re.error)
"""Errors a parser (or a walk over what it built) raises on hostile input besides its
own syntax errors."""


class YamlProblem(ValueError):
    """One line saying what is wrong with the YAML and where (line, or document number)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def parse_failure_reason(error: BaseException) -> str:
    """One line for one of `PARSE_FAILURES`."""
    if isinstance(error, RecursionError):
        return "it is nested too deeply"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def load_documents(text: str, *, max_alias_nodes: int, max_expanded_bytes: int,
                   max_depth: int | None = None) -> list[tuple[int, Any]]:
    """`(document number from 1, document)` for each non-empty document of `text`."""
    documents: list[tuple[int, Any]] = []
    number = 0
    loader = _Loader(text)
    try:
        while loader.check_node():
            number += 1
            node = loader.get_node()
            if node is None:
                continue
            # An alias needs a `*`: plain documents skip the count unless depth is bounded.
            if "*" in text or max_depth is not None:
                _check_graph(node, max_alias_nodes, max_expanded_bytes, max_depth,
                             f"document {number}")
            document = loader.construct_document(node)
            if document is not None:
                documents.append((number, document))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else f"document {number}"
        problem = error.problem or error.context or "invalid YAML"
        raise YamlProblem(f"{where}: YAML syntax error: {problem}") from error
    except yaml.YAMLError as error:
        raise YamlProblem(f"YAML syntax error: {error}") from error
    except YamlProblem:
        raise
    except PARSE_FAILURES as error:
        raise YamlProblem(
            f"document {number}: cannot parse: {parse_failure_reason(error)}") from error
    finally:
        loader.dispose()
    return documents


def _check_graph(root: yaml.Node, max_alias_nodes: int, max_bytes: int,
                 max_depth: int | None, where: str) -> None:
    """Refuse a node graph whose aliases add too many nodes or bytes when expanded, that
    refers to itself, or (with `max_depth`) that nests deeper than `max_depth`.

    Aliases make the graph a DAG (or a cycle): sizes and depths are counted bottom-up
    once per distinct node, without recursion, so the count itself is cheap.
    """
    # id(node) -> (expanded nodes, scalar bytes, depth)
    sizes: dict[int, tuple[int, int, int]] = {}
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    cycle = f"{where}: a YAML alias refers to itself; remove the cycle"
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in in_progress:
                raise YamlProblem(cycle)
            in_progress.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in in_progress:
                    raise YamlProblem(cycle)
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        in_progress.discard(key)
        nodes, size = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        depth = 0
        for child in children:
            child_nodes, child_size, child_depth = sizes[id(child)]
            nodes += child_nodes
            size += child_size
            depth = max(depth, child_depth)
        depth += 1 if children or not isinstance(node, yaml.ScalarNode) else 0
        if max_depth is not None and depth > max_depth:
            raise YamlProblem(f"{where} is nested more than {max_depth} levels deep; "
                              "flatten it")
        sizes[key] = (nodes, size, depth)
    expanded_nodes, expanded_bytes, _ = sizes[id(root)]
    if expanded_nodes - len(sizes) > max_alias_nodes:
        raise YamlProblem(
            f"{where}: YAML aliases expand to more than {max_alias_nodes} nodes; "
            "write the repeated parts out or use fewer levels of aliases"
        )
    if expanded_bytes > max_bytes:
        raise YamlProblem(
            f"{where}: YAML aliases expand to more than {max_bytes} bytes; "
            "write the repeated parts out or use fewer levels of aliases"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
