"""`SharedInformers`: one informer per (kind, namespace, label selector) in a process.

The Rollout, Experiment and AnalysisRun controllers each watch ReplicaSets, Services,
AnalysisRuns and templates; built separately, one process held two or three copies of
every one of those objects and opened as many watches. Controllers built with the same
`SharedInformers` get the same `Informer` for the same (kind, namespace, selector): one
cache, one list, one watch, one thread; each controller adds its own handlers to it
(the `Manager` starts each distinct informer once, after every controller is bound).

Every informer made here caches lean copies (`rollouts.kube.lean`), all sharing one
`StringTable`. Neighbours: `rollouts controller` (`rollouts/cli/controller_cmd.py`)
makes one for all the controllers it runs; a controller built alone makes its own.
"""

from __future__ import annotations

import threading

from rollouts.kube.client import KubeClient
from rollouts.kube.informer import Informer, Transform
from rollouts.kube.kinds import Kind
from rollouts.kube.lean import StringTable, lean_transform

__all__ = ["SharedInformers"]

_Key = tuple[str, str, str | None, str | None, str | None]


class SharedInformers:
    """Hands out informers, the same one for the same (kind, namespace, selector)."""

    def __init__(self, client: KubeClient, *, transform: Transform | None = None,
                 watch_timeout_seconds: int = 300) -> None:
        self.client = client
        self.strings = StringTable()
        self.transform: Transform = transform or lean_transform(self.strings)
        self.watch_timeout_seconds = watch_timeout_seconds
        self._informers: dict[_Key, Informer] = {}
        self._lock = threading.Lock()

    def informer(self, kind: Kind, namespace: str | None = None,
                 label_selector: str | None = None, *,
                 field_selector: str | None = None) -> Informer:
        """The informer of `kind` in `namespace` (None: all) matching `label_selector`
        (and `field_selector`)."""
        key = (kind.api_version, kind.plural, namespace or None, label_selector or None,
               field_selector or None)
        with self._lock:
            found = self._informers.get(key)
            if found is None:
                found = Informer(self.client, kind, namespace or None, label_selector or None,
                                 watch_timeout_seconds=self.watch_timeout_seconds,
                                 transform=self.transform,
                                 field_selector=field_selector or None)
                self._informers[key] = found
            return found

    def all(self) -> list[Informer]:
        """Every informer handed out so far."""
        with self._lock:
            return list(self._informers.values())
