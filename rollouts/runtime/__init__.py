"""The machinery every controller runs on: clock, work queue, timers, manager, logging.

- `clock`: the `Clock` seam (`SystemClock`, `FakeClock` for tests).
- `queue`: `WorkQueue`, client-go's rate-limited queue (dedup, one worker per key,
  per-key exponential backoff); `object_key` / `key_of` / `split_key` for `"namespace/name"` keys.
- `retry`: the retry policy as pure functions (`retry_delay(kind, attempt)`,
  `backoff_delay`): temporary errors retried soon, permanent ones slowly, none dropped.
- `httpserver`: `BoundedHTTPServer`, a threading HTTP server with per-connection
  deadlines and bounded threads (health endpoints, the reconciler's webhook).
- `timers`: `Timers`, APScheduler one-shot jobs that only enqueue a key.
- `interfaces`: the `Controller`, `InformerLike`, `LeaderElectorLike` protocols that
  `rollouts.kube` objects and our controllers satisfy structurally.
- `manager`: `Manager`, which syncs caches, elects a leader, runs workers and serves
  `/healthz`, `/readyz`, `/metrics` (`health.HealthServer`).
- `log`: `logging_setup("text" | "json", level)`.
- `written`: `WrittenVersions`, read-your-writes over an informer cache.

Neighbours: controllers (`rollouts.controller`, `analysis`, `reconciler`) import this
package and `rollouts.kube`; this package imports neither them nor `kubernetes`.
"""

from .clock import Clock, FakeClock, SystemClock
from .health import HealthServer
from .httpserver import BoundedHTTPServer
from .interfaces import Controller, InformerLike, LeaderElectorLike, ReconcileResult
from .log import JsonFormatter, TextFormatter, log_fields, logging_setup
from .manager import CacheSyncTimeout, LeaderElectionLost, Manager
from .queue import WorkQueue, key_of, object_key, split_key
from .retry import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    PERMANENT_BASE_DELAY,
    PERMANENT_MAX_DELAY,
    ErrorKind,
    backoff_delay,
    error_kind,
    is_temporary,
    retry_delay,
)
from .timers import Timers
from .written import WrittenVersions, resource_version

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_DELAY",
    "PERMANENT_BASE_DELAY",
    "PERMANENT_MAX_DELAY",
    "BoundedHTTPServer",
    "CacheSyncTimeout",
    "Clock",
    "Controller",
    "ErrorKind",
    "FakeClock",
    "HealthServer",
    "InformerLike",
    "JsonFormatter",
    "LeaderElectionLost",
    "LeaderElectorLike",
    "Manager",
    "ReconcileResult",
    "SystemClock",
    "TextFormatter",
    "Timers",
    "WorkQueue",
    "WrittenVersions",
    "backoff_delay",
    "error_kind",
    "is_temporary",
    "key_of",
    "log_fields",
    "logging_setup",
    "object_key",
    "resource_version",
    "retry_delay",
    "split_key",
]
