"""The backtest's pure helpers: reading --from/--to/--every, the thresholds of simple
conditions, and the SVG chart."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta

import pytest

from analysis.backtest import (
    BadWindow,
    ChartMetric,
    Point,
    parse_every,
    parse_instant,
    render_svg,
    thresholds,
    window,
)
from rollouts.api import AnalysisPhase

NOW = datetime(2026, 12, 4, 12, 30, 45, 123456, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


class TestTimes:
    @pytest.mark.parametrize(("text", "expected"), [
        ("now", datetime(2026, 12, 4, 12, 30, 45, tzinfo=UTC)),
        ("-24h", datetime(2026, 12, 3, 12, 30, 45, tzinfo=UTC)),
        ("now-90m", datetime(2026, 12, 4, 11, 0, 45, tzinfo=UTC)),
        ("-1h30m", datetime(2026, 12, 4, 11, 0, 45, tzinfo=UTC)),
        ("-2d", datetime(2026, 12, 2, 12, 30, 45, tzinfo=UTC)),
        ("-1d12h", datetime(2026, 12, 3, 0, 30, 45, tzinfo=UTC)),
        ("2026-12-03T14:00:00Z", datetime(2026, 12, 3, 14, 0, tzinfo=UTC)),
        ("2026-12-03T15:00:00.9+01:00", datetime(2026, 12, 3, 14, 0, tzinfo=UTC)),
    ])
    def test_instants(self, text: str, expected: datetime) -> None:
        assert parse_instant(text, NOW) == expected

    @pytest.mark.parametrize(("text", "message"), [
        ("yesterday", "'yesterday' is not a time: write RFC 3339"),
        ("2026-12-03T14:00:00", "has no time zone: add Z"),
        ("-24x", "is not a"),
    ])
    def test_unreadable_instants_say_how_to_write_them(self, text: str, message: str) -> None:
        with pytest.raises(BadWindow, match=message):
            parse_instant(text, NOW, option="--from")

    def test_every(self) -> None:
        assert parse_every("1m") == timedelta(minutes=1)
        assert parse_every("90s") == timedelta(seconds=90)
        with pytest.raises(BadWindow, match="shorter than a second"):
            parse_every("500ms")
        with pytest.raises(BadWindow, match="is not a duration"):
            parse_every("often")

    def test_window_order_and_future(self) -> None:
        span = window("-24h", "now", "5m", NOW)
        assert (span.length, span.every) == (timedelta(days=1), timedelta(minutes=5))
        with pytest.raises(BadWindow, match="must be before --to"):
            window("now", "-1h", "1m", NOW)
        with pytest.raises(BadWindow, match="is in the future"):
            window("-1h", "2027-01-01T00:00:00Z", "1m", NOW)


class TestThresholds:
    @pytest.mark.parametrize(("condition", "values"), [
        ("result[0] < 0.05", (0.05,)),
        ("result >= 0.95", (0.95,)),
        ("0.5 > result[0]", (0.5,)),
        ("asFloat(result[0]) <= 300", (300.0,)),
        ("result[0] > -1", (-1.0,)),
        ("result[0] > 0.9 && result[0] <= 1", (0.9, 1.0)),
        ("len(result) == 0 || result[0] < 5", (5.0,)),
        ("!isNaN(result[0]) && result[0] < 5", (5.0,)),
    ])
    def test_simple_conditions_give_their_numbers(self, condition: str,
                                                  values: tuple[float, ...]) -> None:
        found = thresholds(condition)
        assert found.simple and found.values == values

    @pytest.mark.parametrize("condition", [
        "all(result, {# < 1})", "result[0] * 2 < 1", "result[0] < result[1]",
        "result[1] < 3", "len(result) == 0", "result[0] < 5 ||", "true",
    ])
    def test_other_conditions_are_not_simple(self, condition: str) -> None:
        found = thresholds(condition)
        assert not found.simple and found.values == ()

    def test_no_condition(self) -> None:
        assert thresholds(None).simple and thresholds(None).values == ()


T0 = datetime(2026, 12, 3, tzinfo=UTC)


def points() -> list[Point]:
    found = [Point("error-ratio", T0 + timedelta(minutes=m),
                   AnalysisPhase.SUCCESSFUL if m < 30 else AnalysisPhase.FAILED,
                   f"[{0.01 if m < 30 else 0.09}]", 0.01 if m < 30 else 0.09)
             for m in range(60)]
    found.append(Point("error-ratio", T0 + timedelta(minutes=60), AnalysisPhase.ERROR, None,
                       None, "timeout"))
    return found


class TestChart:
    def test_a_valid_svg_with_values_thresholds_and_the_first_failure(self) -> None:
        metric = ChartMetric("error-ratio", points(), thresholds("result[0] < 0.05"),
                             thresholds("result[0] > 0.2"), "result[0] < 0.05",
                             "result[0] > 0.2", first_failure=T0 + timedelta(minutes=30))
        svg = render_svg("error-ratio <backtest>", T0, T0 + timedelta(hours=1), [metric])

        root = ElementTree.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        lines = {line.get("class"): line for line in root.iter(f"{SVG}line")
                 if "threshold" in (line.get("class") or "")}
        assert lines["threshold success"].get("data-value") == "0.05"
        assert lines["threshold failure"].get("data-value") == "0.2"
        assert lines["threshold success"].get("stroke") == "#2e7d32"
        circles = [c.get("class") for c in root.iter(f"{SVG}circle") if c.get("class")]
        assert circles.count("point Successful") == 30 and circles.count("point Failed") == 30
        ticks = [x for x in root.iter(f"{SVG}line") if "novalue" in (x.get("class") or "")]
        assert len(ticks) == 1 and "Error" in (ticks[0].get("class") or "")
        assert any(x.get("class") == "first-failure" for x in root.iter(f"{SVG}line"))
        texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
        assert "error-ratio <backtest>" in texts and "first failure 00:30" in texts

    def test_success_lines_sit_where_the_values_cross_them(self) -> None:
        metric = ChartMetric("r", points(), thresholds("result[0] < 0.05"),
                             thresholds(None), "result[0] < 0.05")
        root = ElementTree.fromstring(render_svg("t", T0, T0 + timedelta(hours=1), [metric]))
        line = next(x for x in root.iter(f"{SVG}line") if x.get("class") == "threshold success")
        ys = {c.get("class"): float(c.get("cy") or 0) for c in root.iter(f"{SVG}circle")
              if c.get("class")}
        # y grows downward: the passing values (0.01) are below the line, failing above.
        assert ys["point Failed"] < float(line.get("y1") or 0) < ys["point Successful"]

    def test_a_condition_that_is_not_simple_draws_no_line_and_says_so(self) -> None:
        metric = ChartMetric("r", points(), thresholds("all(result, {# < 0.05})"),
                             thresholds(None), "all(result, {# < 0.05})")
        svg = render_svg("t", T0, T0 + timedelta(hours=1), [metric])
        assert "threshold" not in svg
        assert "not a simple comparison: values and verdicts only" in svg

    def test_no_points_still_renders(self) -> None:
        metric = ChartMetric("r", [], thresholds(None), thresholds(None))
        root = ElementTree.fromstring(render_svg("t", T0, T0 + timedelta(days=2), [metric]))
        assert root.tag == f"{SVG}svg"

    def test_values_at_the_ends_of_the_float_range_still_render(self) -> None:
        # A Prometheus answering 1e308 and -1e308: their difference overflows a float.
        huge = [Point("r", T0 + timedelta(minutes=m), AnalysisPhase.SUCCESSFUL, f"[{v}]", v)
                for m, v in enumerate([-1e308, 1e308, 0.0])]
        metric = ChartMetric("r", huge, thresholds("result[0] < 1.7e308"), thresholds(None))
        root = ElementTree.fromstring(render_svg("t", T0, T0 + timedelta(hours=1), [metric]))
        ys = [float(c.get("cy") or "nan") for c in root.iter(f"{SVG}circle") if c.get("class")]
        assert len(ys) == 3 and all(math.isfinite(y) for y in ys)
        assert ys[1] < ys[2] < ys[0]  # y grows downward
