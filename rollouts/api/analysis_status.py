"""`AnalysisRun.status`: the typed record of measurements, written by the analysis controller.

A failed measurement is data, not an exception: a Prometheus timeout is a `Measurement`
with phase Error that counts toward `consecutiveErrorLimit`.
"""

from __future__ import annotations

from rollouts.api.common import ApiModel, Bool, Int, Time
from rollouts.api.phases import AnalysisPhase

__all__ = ["AnalysisRunStatus", "Measurement", "MetricResult", "RunSummary"]


class Measurement(ApiModel):
    """One measurement of one metric: its verdict, value (as text) and when it was taken."""

    phase: AnalysisPhase
    message: str | None = None
    value: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    resume_at: Time | None = None
    """When a provider that has to wait (a Job) should be looked at again."""
    metadata: dict[str, str] | None = None
    """Provider details, e.g. the name of the Job a `job` metric created."""


class MetricResult(ApiModel):
    """Everything measured for one metric: the newest measurements and running counts."""

    name: str
    phase: AnalysisPhase
    message: str | None = None
    measurements: list[Measurement] | None = None
    count: Int | None = None
    """Measurements taken that did not error (successful + failed + inconclusive)."""
    successful: Int | None = None
    failed: Int | None = None
    inconclusive: Int | None = None
    error: Int | None = None
    consecutive_error: Int | None = None
    dry_run: Bool | None = None
    metadata: dict[str, str] | None = None

    @property
    def last_measurement(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None


class RunSummary(ApiModel):
    """How many metrics ended in each phase."""

    count: Int | None = None
    successful: Int | None = None
    failed: Int | None = None
    inconclusive: Int | None = None
    error: Int | None = None


class AnalysisRunStatus(ApiModel):
    """Status of an AnalysisRun, as Argo Rollouts writes it.

    Example, a run whose success-rate metric failed its third measurement::

        status:
          phase: Failed
          message: Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)
          startedAt: "2024-05-01T12:00:00Z"
          completedAt: "2024-05-01T12:02:00Z"
          runSummary: {count: 1, failed: 1}
          metricResults:
          - name: success-rate
            phase: Failed
            count: 3
            successful: 2
            failed: 1
            measurements:
            - phase: Successful
              value: "[0.99]"
              startedAt: "2024-05-01T12:00:00Z"
              finishedAt: "2024-05-01T12:00:01Z"
            - phase: Failed
              value: "[0.81]"
              startedAt: "2024-05-01T12:02:00Z"
              finishedAt: "2024-05-01T12:02:00Z"

    The run phase is the worst phase of its completed metrics (`AnalysisPhase.worst`);
    dry-run metrics are reported under `dryRunSummary` and never decide it.
    """

    phase: AnalysisPhase | None = None
    message: str | None = None
    started_at: Time | None = None
    completed_at: Time | None = None
    metric_results: list[MetricResult] | None = None
    run_summary: RunSummary | None = None
    dry_run_summary: RunSummary | None = None

    def metric_result(self, name: str) -> MetricResult | None:
        return next((result for result in self.metric_results or [] if result.name == name), None)
