"""The text of scrape-time gauges, kept per object and rewritten only when it changed.

A gauge collector over an informer cache (`rollout_collector`, `analysis_collector`,
`app_metrics.ApplicationCollector`) describes each object's series as rows
`(family index, label values, value)`, a pure function of the object. `ObjectBlocks`
keeps, per object, the text lines of those rows (one block per family) with the
object's `metadata.resourceVersion`: at the next scrape an object with the same
resourceVersion reuses its block, any other is written again, and objects no longer
listed are dropped. The informer replaces an object's dict on every watch event (a new
resourceVersion); objects without one (made by hand, in tests) are written at every
scrape.

Thread safety: the informer threads never touch the blocks; scrapes (HTTP threads) run
`collect` one at a time under the instance's lock, reading `list()` snapshots whose
dicts are read-only by the informer's contract.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.samples import Sample

from rollouts.metrics.exposition import Family, RenderedFamily

__all__ = ["ObjectBlocks", "Row", "SeriesOf"]

Row = tuple[int, Sequence[str], float]
"""One series of an object: (index of its family, its label values, its value)."""
SeriesOf = Callable[[dict[str, Any]], Iterable[Row]]


def _key(obj: dict[str, Any]) -> tuple[tuple[str, str], str]:
    meta = obj.get("metadata") or {}
    return ((str(meta.get("namespace") or ""), str(meta.get("name") or "")),
            str(meta.get("resourceVersion") or ""))


class ObjectBlocks:
    """The families of `series_of` over a list of objects, as text cached per object."""

    def __init__(self, families: Sequence[Family], series_of: SeriesOf) -> None:
        self.families = tuple(families)
        self._series_of = series_of
        self._lock = threading.Lock()
        self._blocks: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        self.written = 0
        """Objects written (not reused) by the last `collect` (for benchmarks)."""

    def _block(self, obj: dict[str, Any]) -> tuple[str, ...]:
        lines: list[list[str]] = [[] for _ in self.families]
        for index, values, value in self._series_of(obj):
            lines[index].append(self.families[index].line(values, value))
        return tuple("".join(part) for part in lines)

    def collect(self, objects: Sequence[dict[str, Any]]) -> list[RenderedFamily]:
        """One `RenderedFamily` per family, over `objects` in their order."""
        columns: list[list[str]] = [[] for _ in self.families]
        with self._lock:
            previous, current = self._blocks, {}
            written = 0
            for obj in objects:
                key, version = _key(obj)
                cached = previous.get(key) if version else None
                if cached is not None and cached[0] == version:
                    block = cached[1]
                else:
                    block = self._block(obj)
                    written += 1
                if version:
                    current[key] = (version, block)
                for column, text in zip(columns, block, strict=True):
                    if text:
                        column.append(text)
            self._blocks = current
            self.written = written
        snapshot = list(objects)
        return [RenderedFamily(family, family.header + "".join(column),
                               self._sampler(index, snapshot))
                for index, (family, column) in enumerate(zip(self.families, columns,
                                                             strict=True))]

    def _sampler(self, index: int, objects: list[dict[str, Any]]
                 ) -> Callable[[], list[Sample]]:
        family = self.families[index]

        def samples() -> list[Sample]:
            return [Sample(family.name, dict(zip(family.labels, values, strict=True)), value)
                    for obj in objects for row, values, value in self._series_of(obj)
                    if row == index]
        return samples
