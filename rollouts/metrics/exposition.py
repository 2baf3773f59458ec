"""The text that `/metrics` serves: the per-object series written directly, the rest by
prometheus_client.

`generate_latest` builds a `Sample` per series and formats it on every scrape: with
60,000 per-object series (1,000 Rollouts and 1,000 AnalysisRuns) that is most of the
scrape. The per-object collectors (`object_blocks`, `object_series`) instead keep each
object's lines as text, rewritten only when the object changed, and yield them as a
`RenderedFamily`: a prometheus_client `Metric` that also carries its text. `render` joins
those texts and hands every other family (process, leader, Git, API requests) to
`generate_latest`, so the output is the Prometheus text format (0.0.4) either way.

A `RenderedFamily` still works wherever a `Metric` does (`generate_latest`, restricted
registries, tests): its `samples` are built on first read, from the same values.

Neighbours: `rollouts.runtime.health` serves `render(registry)`; the line format here
is `generate_latest`'s (labels sorted by name, values by `floatToGoString`, the same
escapes), which `tests/unit/test_metrics_render.py` checks sample by sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# generate_latest's number format (`1.0`, `+Inf`, `1e+06`); untyped in prometheus_client.
_go_float: Callable[[float], str] = floatToGoString
# Most values are small whole numbers (bucket counts, replicas, 0/1 gauges): their text
# is looked up instead of formatted (a third of the cost of writing a line otherwise).
_WHOLE = tuple(_go_float(float(whole)) for whole in range(4096))

__all__ = ["Family", "RenderedFamily", "escape_label_value", "number", "render"]

# How generate_latest names families in HELP / TYPE (OpenMetrics type -> text format).
_TEXT_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram",
               "unknown": "untyped", "summary": "summary"}


def number(value: float) -> str:
    """`value` as generate_latest writes it (`floatToGoString`)."""
    if 0 < value < len(_WHOLE):  # not 0: -0.0 is written "-0.0"; not NaN
        whole = int(value)
        if whole == value:
            return _WHOLE[whole]
    elif value == 0 and math.copysign(1.0, value) > 0:
        return _WHOLE[0]
    return _go_float(value)


def escape_label_value(value: str) -> str:
    """A label value as the text format quotes it: `\\`, `"` and newline escaped."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _escaped(values: Sequence[str]) -> Sequence[str]:
    """`values`, each escaped (most need nothing: one look at them all first)."""
    joined = "".join(values)
    if "\\" in joined or '"' in joined or "\n" in joined:
        return [escape_label_value(value) for value in values]
    return values


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


_Template = tuple[str, Callable[[Sequence[str]], tuple[str, ...]]]


def _template(name: str, labels: tuple[str, ...]) -> _Template:
    """`name{a="%s",b="%s"} ` with the labels sorted by name as generate_latest writes
    them, and what picks the label values for the `%s` in that order."""
    order = sorted(range(len(labels)), key=labels.__getitem__)
    pairs = ",".join(f'{labels[index]}="%s"' for index in order)
    if len(order) > 1:
        return f"{name}{{{pairs}}} ", itemgetter(*order)  # a tuple of them, in C
    if order:
        return f"{name}{{{pairs}}} ", lambda values: (values[0],)
    return f"{name} ", lambda _values: ()


class Family:
    """One metric family's name, help, type and label names, and how its lines read.

    `kind` is prometheus_client's type (`gauge`, `counter`, `histogram`, `unknown`);
    `name` is the family name prometheus_client gives it (a counter's without `_total`).
    """

    def __init__(self, name: str, documentation: str, kind: str,
                 labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.kind = kind
        self.labels = tuple(labels)
        shown = f"{name}_total" if kind == "counter" else name
        self.header = (f"# HELP {shown} {_escape_help(documentation)}\n"
                       f"# TYPE {shown} {_TEXT_TYPES[kind]}\n")
        self._plain = _template(name, self.labels)
        self._templates: dict[tuple[str, bool], _Template] = {}

    def prefix(self, values: Sequence[str], suffix: str = "", le: str | None = None) -> str:
        """`<name><suffix>{labels} `, the line of one series up to its value; `values`
        are the label values in `labels` order, `le` a histogram bucket's bound."""
        key = (suffix, le is not None)
        found = self._templates.get(key)
        if found is None:
            names = (*self.labels, "le") if le is not None else self.labels
            found = self._templates[key] = _template(self.name + suffix, names)
        template, pick = found
        return template % pick(_escaped((*values, le) if le is not None else values))

    def line(self, values: Sequence[str], value: float) -> str:
        """One series of this family (no suffix, no `le`), with its newline."""
        template, pick = self._plain
        return f"{template % pick(_escaped(values))}{number(value)}\n"

    def metric(self) -> Metric:
        return Metric(self.name, self.documentation, self.kind)


class RenderedFamily(Metric):
    """A family whose exposition text is already written (`text`: header and lines).

    `samples`, for prometheus_client and tests, are built by `samples_of()` when first
    read; `render` never reads them.
    """

    def __init__(self, family: Family, text: str,
                 samples_of: Callable[[], list[Sample]]) -> None:
        self._built: list[Sample] | None = None
        self._samples_of = samples_of
        super().__init__(family.name, family.documentation, family.kind)
        self.text = text

    @property
    def samples(self) -> list[Sample]:
        if self._built is None:
            self._built = self._samples_of()
        return self._built

    @samples.setter
    def samples(self, samples: list[Sample]) -> None:
        self._built = samples if samples else None


class _Families(Collector):
    """Families already collected, as something `generate_latest` can collect from."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def render(registry: Collector) -> bytes:
    """`registry`'s metrics in the Prometheus text format, as `/metrics` serves them.

    Families in the registry's order; a `RenderedFamily` is written from its text, the
    others by `generate_latest`.
    """
    parts: list[str] = []
    pending: list[Metric] = []
    for family in registry.collect():
        if isinstance(family, RenderedFamily):
            if pending:
                parts.append(generate_latest(_Families(pending)).decode("utf-8"))
                pending = []
            parts.append(family.text)
        else:
            pending.append(family)
    if pending:
        parts.append(generate_latest(_Families(pending)).decode("utf-8"))
    return "".join(parts).encode("utf-8")
