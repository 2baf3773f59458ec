"""The public surface of `rollouts.runtime` is pinned, and it stays free of `kubernetes`."""

from __future__ import annotations

import subprocess
import sys

import rollouts.runtime

PUBLIC = {
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
    "log_fields",
    "logging_setup",
    "key_of",
    "object_key",
    "resource_version",
    "retry_delay",
    "split_key",
}


def test_the_public_names_are_exactly_the_pinned_ones_and_all_exist() -> None:
    assert set(rollouts.runtime.__all__) == PUBLIC
    assert len(rollouts.runtime.__all__) == len(PUBLIC)
    for name in PUBLIC:
        assert hasattr(rollouts.runtime, name), name


def test_importing_the_runtime_loads_neither_kubernetes_nor_rollouts_kube() -> None:
    probe = (
        "import sys, rollouts.runtime; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'kubernetes' "
        "or m.startswith('rollouts.kube')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
