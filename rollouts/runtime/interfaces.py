"""What the `Manager` needs from controllers, informers and the leader elector.

These are structural `Protocol`s: `rollouts.kube.Informer` and `rollouts.kube.LeaderElector`
satisfy them without importing this module, and tests satisfy them with ten-line fakes.
`rollouts.runtime` never imports `rollouts.kube` (nor the `kubernetes` client), so the
dependency points one way only: controllers (`rollouts.controller`, `analysis`,
`reconciler`) import both and hand kube objects to the runtime.

Parameters are positional-only so implementations may name them as they like.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .queue import WorkQueue
    from .timers import Timers

__all__ = ["Controller", "InformerLike", "LeaderElectorLike", "ReconcileResult"]


class InformerLike(Protocol):
    """A watch cache: `start` lists then watches in its own thread (returns at once);
    `has_synced` is True once the first list is in the cache; `stop` ends the watch.

    The same informer may be returned by several controllers: the `Manager` starts and
    stops each distinct object once.
    """

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def has_synced(self) -> bool: ...


class LeaderElectorLike(Protocol):
    """A Lease-based leader elector, as in client-go's `leaderelection`
    (`rollouts.kube.LeaderElector`).

    `run(on_started_leading, on_stopped_leading, stop_event)` blocks until `stop_event`
    is set: it competes for the lease, calls `on_started_leading()` when it wins and
    `on_stopped_leading()` when it stops leading (renewals failed, or stop). It releases
    the lease only when leadership ended because `stop_event` was set, which the
    `Manager` does only once every worker has finished; then a standby takes over at once.
    The callbacks run on the elector's thread and must be quick (the `Manager`'s only set flags).
    """

    def run(
        self,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        stop_event: threading.Event,
        /,
    ) -> None: ...

    def is_leader(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What a successful reconcile asks for: `requeue_after` seconds -> look again then.

    Prefer `Timers.at(key, when, reason)` for waits tied to a stored timestamp (a pause
    that ends at a known time); `requeue_after` suits "poll again in a while".
    """

    requeue_after: float | None = None


class Controller(Protocol):
    """One controller run by the `Manager`: a name, its informers, a reconcile function.

    `bind(queue, timers)` is called once, before the informers start, so informer
    handlers can `queue.add(key)` and `reconcile` can schedule `timers.at(...)`.
    `reconcile(key)` reads the caches, acts, and returns a `ReconcileResult`; it raises
    to ask for a retry (an error with `temporary = False` is not retried).
    A controller's `reconcile` runs on several worker threads, never twice at once for
    the same key.
    """

    @property
    def name(self) -> str: ...

    def informers(self) -> Sequence[InformerLike]: ...

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None: ...

    def reconcile(self, key: str, /) -> ReconcileResult: ...
