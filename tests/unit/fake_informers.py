"""Informer caches for controller unit tests: objects put in by the test, no API server.

`FakeInformer` answers `get` / `list` as `rollouts.kube.informer.Informer` does and keeps
the handlers it was given; `FakeShared` stands in for `rollouts.kube.shared.SharedInformers`,
one `FakeInformer` per (kind, selector), so a test can reach the cache a controller asked
for: `shared.made[("ConfigMap", "metadata.name=cm")]`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FakeInformer", "FakeShared"]

Obj = dict[str, Any]


class FakeInformer:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.handlers: list[Any] = []

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self.objects.get((namespace or "", name))

    def list(self, namespace: str | None = None) -> list[Obj]:
        return [o for (ns, _), o in sorted(self.objects.items()) if namespace in (None, ns)]

    def add_handler(self, handler: Any) -> None:
        self.handlers.append(handler)

    def put(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.objects[(meta.get("namespace", ""), meta["name"])] = obj


class FakeShared:
    def __init__(self) -> None:
        self.made: dict[tuple[str, str | None], FakeInformer] = {}

    def informer(self, kind: Any, namespace: str | None = None, label_selector: Any = None,
                 *, field_selector: str | None = None) -> FakeInformer:
        """The cache for `kind`, keyed by its label or field selector (None: all)."""
        selector = str(label_selector) if label_selector else field_selector
        return self.made.setdefault((kind.kind, selector), FakeInformer())
