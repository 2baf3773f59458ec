"""A Helm repository's `index.yaml`: which versions of which chart, and where each is.

    apiVersion: v1
    entries:
      guestbook:
        - version: 1.2.0
          urls: [guestbook-1.2.0.tgz]      # relative to the repository URL, or absolute
          digest: 9f86d0...                 # sha256 of the archive (optional)

`parse_index(data)` keeps, per chart, each entry's version, URLs and digest, and nothing
else (the rest of an index can be large). Every scalar is read as a string, as Helm
reads these fields (YAML would otherwise turn `version: 1.10` into the number 1.1).
A malformed document, or entries that are not what Helm writes, give an `IndexProblem`;
an entry without a version or URL is skipped, as Helm skips it. `pick_entry` is how
`helm pull --version` chooses: the entry whose version is written exactly so, else the
greatest one the version admits as a constraint. Pure: no I/O. Neighbours:
`reconciler.charts.semver`, `reconciler.charts.source` (which fetches the index).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.charts.semver import ConstraintProblem, Version, parse_constraint, parse_version

__all__ = ["MAX_ENTRIES_PER_CHART", "Index", "IndexEntry", "IndexProblem", "parse_index",
           "pick_entry"]

MAX_ENTRIES_PER_CHART = 20_000
"""Versions of one chart considered (the largest public repositories list a few thousand)."""
_MAX_URLS = 8
_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")

try:  # libyaml's loader is many times faster on large indexes; same answers
    _LOADER: Any = yaml.CBaseLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _LOADER = yaml.BaseLoader


class IndexProblem(ValueError):
    """The index (or the chart in it) is unusable; one line, safe to show."""


@dataclass(frozen=True)
class IndexEntry:
    version: str
    urls: tuple[str, ...]
    digest: str | None
    """Lower-case sha256 hex of the archive, when the index gives a valid one."""


class Index:
    """A parsed index; a chart's entries are read out on first use (`chart(name)`).

    Only the asked-for chart's entries are ever walked: a hostile index whose charts all
    alias one huge list costs one walk of `MAX_ENTRIES_PER_CHART`, not one per chart.
    """

    def __init__(self, raw_entries: dict[Any, Any]) -> None:
        self._raw = raw_entries
        self._read: dict[str, tuple[IndexEntry, ...]] = {}

    def chart(self, name: str) -> tuple[IndexEntry, ...]:
        """The usable entries of chart `name`, in index order; `IndexProblem` if none."""
        found = self._read.get(name)
        if found is None:
            listed = self._raw.get(name)
            items = listed[:MAX_ENTRIES_PER_CHART] if isinstance(listed, list) else []
            found = tuple(e for e in (_entry(item) for item in items) if e is not None)
            self._read[name] = found
        if not found:
            raise IndexProblem(f"chart '{name[:100]}' is not in the repository's index")
        return found


def parse_index(data: bytes) -> Index:
    """The index in `data` (see the module docstring)."""
    try:
        document = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise IndexProblem(f"index.yaml is not valid YAML{where}") from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), dict):
        raise IndexProblem("index.yaml has no 'entries' mapping: is the URL a Helm repository?")
    return Index(document["entries"])


def _entry(item: Any) -> IndexEntry | None:
    if not isinstance(item, dict):
        return None
    version, urls = item.get("version"), item.get("urls")
    if not isinstance(version, str) or not version.strip() or not isinstance(urls, list):
        return None
    kept = tuple(url for url in urls[:_MAX_URLS] if isinstance(url, str) and url.strip())
    if not kept:
        return None
    digest = item.get("digest")
    found = _DIGEST.match(digest.strip()) if isinstance(digest, str) else None
    return IndexEntry(version.strip(), kept, found.group(1).lower() if found else None)


def pick_entry(entries: tuple[IndexEntry, ...], version: str, chart: str) -> IndexEntry:
    """The entry `helm pull --version <version>` would download."""
    for entry in entries:
        if entry.version == version:
            return entry
    try:
        constraint = parse_constraint(version)
    except ConstraintProblem:
        constraint = None
    best: tuple[Version, IndexEntry] | None = None
    for entry in entries if constraint is not None else ():
        parsed = parse_version(entry.version)
        if parsed is not None and constraint is not None and constraint.check(parsed) and (
                best is None or parsed.compare(best[0]) > 0):
            best = (parsed, entry)
    if best is None:
        raise IndexProblem(f"chart '{chart[:100]}' has no version {version[:80]!r} in the "
                           "repository's index")
    return best[1]
