"""The pure parts of `make bench-compare`: latency figures (p99 only with N >= 100),
the ratio and who is ahead, the Markdown table, the rows for report.record, and the
parsing of both controllers' request counters."""

from __future__ import annotations

import pytest

from tests.bench.compare.controllers import ARGO_METRIC, OURS_METRIC, parse_requests
from tests.bench.compare.table import Figure, fmt, latency_figures, ratio, rows, table
from tests.bench.report import _check


def test_latency_figures_show_max_not_p99_below_100_samples() -> None:
    figures = latency_figures("after promote", [0.010 * i for i in range(1, 100)])
    assert [f.label for f in figures] == ["after promote: p50", "after promote: max"]
    assert figures[0].value == pytest.approx(500)  # nearest rank: 50th of 99
    assert figures[1].value == pytest.approx(990)
    assert all(f.n == 99 and f.unit == "ms" for f in figures)


def test_latency_figures_give_p99_from_100_samples() -> None:
    figures = latency_figures("x", [float(i) for i in range(1, 101)])
    assert [f.label for f in figures] == ["x: p50", "x: p99", "x: max"]
    assert [f.value for f in figures] == [50_000, 99_000, 100_000]


def test_latency_figures_without_samples_say_so() -> None:
    figures = latency_figures("x", [])
    assert all(f.value is None and f.n == 0 for f in figures)
    assert "p99" not in " ".join(f.label for f in figures)


def test_ratio_is_argo_over_ours_and_names_who_is_ahead() -> None:
    ours, argo = Figure("rss", 100, "MiB", 1), Figure("rss", 250, "MiB", 1)
    assert ratio(ours, argo) == "2.50x (ours better)"
    assert ratio(argo, ours) == "0.40x (Argo better)"
    assert ratio(ours, Figure("rss", 100.2, "MiB", 1)) == "1.00x (even)"


def test_ratio_where_higher_is_better_reads_the_other_way() -> None:
    ours = Figure("throughput", 100, "/s", 1, better="higher")
    assert ratio(ours, Figure("throughput", 250, "/s", 1, better="higher")) == \
        "2.50x (Argo better)"


def test_ratio_with_zero_or_missing_values() -> None:
    zero, some = Figure("req", 0, "req/min", 1), Figure("req", 3, "req/min", 1)
    assert ratio(zero, some) == "ours 0 (ours better)"
    assert ratio(zero, zero) == "both 0"
    assert ratio(some, None) == "—"
    assert ratio(Figure("req", None, "req/min", 0), some) == "—"


def test_fmt_keeps_about_three_digits() -> None:
    assert [fmt(v) for v in (1234.5, 123.4, 12.34, 1.234, 0.1234, 0, None)] == \
        ["1234", "123", "12.3", "1.23", "0.123", "0", "—"]


def test_table_pairs_rows_by_label_in_our_order_and_shows_both_n_when_they_differ() -> None:
    ours = [Figure("a: p50", 10, "ms", 100), Figure("b", 50, "MiB", 1)]
    argo = [Figure("b", 100, "MiB", 1), Figure("a: p50", 30, "ms", 120),
            Figure("only argo", 1, "s", 1)]
    lines = table(ours, argo)
    assert lines[0] == "| figure | N | ours | Argo Rollouts | ratio (Argo / ours) |"
    assert lines[2] == "| a: p50 | 100 / 120 | 10.0 ms | 30.0 ms | 3.00x (ours better) |"
    assert lines[3] == "| b | 1 | 50.0 MiB | 100 MiB | 2.00x (ours better) |"
    assert lines[4] == "| only argo | 1 | — | 1.00 s | — |"


def test_rows_name_the_controller_and_pass_reports_p99_check() -> None:
    figures = latency_figures("x", [0.001] * 100) + latency_figures("y", [0.001] * 5)
    recorded = rows("Argo Rollouts", figures)
    assert recorded[0] == {"figure": "Argo Rollouts: x: p50", "n": 100, "value": "1.00",
                           "unit": "ms"}
    _check(recorded)  # raises on a p99 over fewer than 100 samples


def test_requests_of_ours_by_verb() -> None:
    text = "\n".join([
        "# TYPE rollouts_kube_requests_total counter",
        'rollouts_kube_requests_total{verb="list"} 7.0',
        'rollouts_kube_requests_total{verb="watch"} 9.0',
        'rollouts_kube_requests_created{verb="list"} 1.7e9'])
    assert parse_requests(text, OURS_METRIC) == {"list": 7.0, "watch": 9.0}


def test_requests_of_argo_summed_over_kind_name_and_status_by_lower_case_verb() -> None:
    text = "\n".join([
        'controller_clientset_k8s_request_total{kind="rollouts",name="N/A",namespace="n",'
        'status_code="200",verb="List"} 1',
        'controller_clientset_k8s_request_total{kind="rollouts",name="N/A",namespace="n",'
        'status_code="429",verb="List"} 1',
        'controller_clientset_k8s_request_total{kind="pods",name="",namespace="n",'
        'status_code="200",verb="Watch"} 4',
        'controller_clientset_k8s_request_total{kind="rollouts",name="r",namespace="n",'
        'status_code="200",verb="Update"} 3'])
    assert parse_requests(text, ARGO_METRIC) == {"list": 2.0, "watch": 4.0, "update": 3.0}


def test_a_benchmark_knob_that_is_not_a_number_stops_with_its_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.bench.report import env_number
    monkeypatch.setenv("GITOPS_APPS", "1e3")
    assert env_number("GITOPS_APPS", 1000) == 1000.0
    monkeypatch.delenv("GITOPS_APPS")
    assert env_number("GITOPS_APPS", 1000) == 1000.0
    monkeypatch.setenv("GITOPS_APPS", "lots")
    with pytest.raises(SystemExit, match="GITOPS_APPS='lots' is not a number"):
        env_number("GITOPS_APPS", 1000)
