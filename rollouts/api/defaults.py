"""The values Argo uses when a field is left out, in one place.

Models never inject these into what they dump; their `*_or_default` properties return them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ABORT_SCALE_DOWN_DELAY_SECONDS",
    "ANALYSIS_RUN_HISTORY_LIMIT",
    "APPLICATION_HISTORY_LIMIT",
    "AUTO_PROMOTION_ENABLED",
    "CONSECUTIVE_ERROR_LIMIT",
    "FAILURE_LIMIT",
    "INCONCLUSIVE_LIMIT",
    "IN_CLUSTER_NAME",
    "IN_CLUSTER_SERVER",
    "MAX_SURGE",
    "MAX_UNAVAILABLE",
    "MEASUREMENT_RETENTION_LIMIT",
    "PROGRESS_DEADLINE_SECONDS",
    "REPLICAS",
    "RETRY_BACKOFF_DURATION",
    "RETRY_BACKOFF_FACTOR",
    "RETRY_BACKOFF_MAX_DURATION",
    "REVISION_HISTORY_LIMIT",
    "SCALE_DOWN_DELAY_SECONDS",
    "TARGET_REVISION",
]

REPLICAS: Final = 1
REVISION_HISTORY_LIMIT: Final = 10
PROGRESS_DEADLINE_SECONDS: Final = 600
MAX_SURGE: Final = "25%"
MAX_UNAVAILABLE: Final = "25%"
SCALE_DOWN_DELAY_SECONDS: Final = 30
"""Blue-green always; canary only with traffic routing (there is nothing to drain otherwise)."""
ABORT_SCALE_DOWN_DELAY_SECONDS: Final = 30
AUTO_PROMOTION_ENABLED: Final = True
# Finished AnalysisRuns a Rollout keeps, per outcome (spec.analysis.*RunHistoryLimit).
ANALYSIS_RUN_HISTORY_LIMIT: Final = 5

FAILURE_LIMIT: Final = 0
INCONCLUSIVE_LIMIT: Final = 0
CONSECUTIVE_ERROR_LIMIT: Final = 4
MEASUREMENT_RETENTION_LIMIT: Final = 10
"""Measurements kept per metric in an AnalysisRun's status."""

TARGET_REVISION: Final = "HEAD"
IN_CLUSTER_SERVER: Final = "https://kubernetes.default.svc"
IN_CLUSTER_NAME: Final = "in-cluster"
APPLICATION_HISTORY_LIMIT: Final = 10
RETRY_BACKOFF_DURATION: Final = "5s"
RETRY_BACKOFF_FACTOR: Final = 2
RETRY_BACKOFF_MAX_DURATION: Final = "3m"
