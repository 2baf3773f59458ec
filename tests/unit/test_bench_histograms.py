"""Reading the controller's histograms in the `progressing` benchmark."""

from __future__ import annotations

import math

import pytest

from tests.bench.compare.controllers import parse_buckets
from tests.bench.progressing import bucket_quantile, share_over

TEXT = """\
# TYPE workqueue_queue_duration_seconds histogram
workqueue_queue_duration_seconds_bucket{le="0.01",name="rollouts"} 90.0
workqueue_queue_duration_seconds_bucket{le="0.1",name="rollouts"} 98.0
workqueue_queue_duration_seconds_bucket{le="1.0",name="rollouts"} 100.0
workqueue_queue_duration_seconds_bucket{le="+Inf",name="rollouts"} 100.0
workqueue_queue_duration_seconds_bucket{le="0.01",name="analysis"} 1.0
workqueue_queue_duration_seconds_bucket{le="+Inf",name="analysis"} 7.0
workqueue_queue_duration_seconds_count{name="rollouts"} 100.0
rollout_reconcile_bucket{le="0.01",name="a",namespace="n"} 3.0
rollout_reconcile_bucket{le="+Inf",name="a",namespace="n"} 4.0
rollout_reconcile_bucket{le="0.01",name="b",namespace="n"} 5.0
rollout_reconcile_bucket{le="+Inf",name="b",namespace="n"} 5.0
"""


def test_buckets_are_read_for_the_matching_series_and_summed_over_objects() -> None:
    assert parse_buckets(TEXT, "workqueue_queue_duration_seconds", 'name="rollouts"') == {
        0.01: 90.0, 0.1: 98.0, 1.0: 100.0, math.inf: 100.0}
    assert parse_buckets(TEXT, "rollout_reconcile") == {0.01: 8.0, math.inf: 9.0}
    assert parse_buckets(TEXT, "missing") == {}


def test_the_quantile_is_the_first_bucket_bound_holding_that_share() -> None:
    counts = parse_buckets(TEXT, "workqueue_queue_duration_seconds", 'name="rollouts"')
    assert bucket_quantile(counts, 0.5) == 0.01
    assert bucket_quantile(counts, 0.98) == 0.1
    assert bucket_quantile(counts, 0.99) == 1.0
    assert share_over(counts, 0.1) == pytest.approx(0.02)
    assert share_over({}, 0.1) == 0.0
