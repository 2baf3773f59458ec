"""The SVG chart of `make bench-compare` (tests/bench/compare/chart.py): a well-formed
document, one polyline and one marker per point for each series, in the plot area, with
the larger value drawn higher and the larger count further right."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.bench.compare.chart import (
    HEIGHT,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    WIDTH,
    Series,
    nice_ticks,
    panel,
    svg,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def _doc() -> ET.Element:
    ours = Series("ours", [(100, 50.0), (1000, 80.0), (10000, 300.0)])
    argo = Series("Argo <v1.10.2>", [(100, 90.0), (1000, 400.0), (10000, 2500.0)])
    text = svg([panel("RSS", "Rollouts", "MiB", [ours, argo]),
                panel("CPU", "Rollouts", "CPU-s", [ours])], "cost & growth",
               ["ours", "Argo <v1.10.2>"], "a footnote")
    return ET.fromstring(text)


def _points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in
            (pair.split(",") for pair in polyline.attrib["points"].split())]


def test_document_is_well_formed_with_one_group_per_panel() -> None:
    root = _doc()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.attrib["width"]) == 2 * WIDTH
    assert len(root.findall("s:g/s:g[@class='panel']", NS)) == 2
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "cost & growth" in texts and "a footnote" in texts  # escaped, then parsed back
    legend = [t.text for t in root.findall("s:text[@class='legend']", NS)]
    assert legend == ["ours", "Argo <v1.10.2>"]


def test_one_polyline_per_series_with_a_marker_per_point() -> None:
    root = _doc()
    lines = root.findall(".//s:polyline[@class='series']", NS)
    assert [p.attrib["data-name"] for p in lines] == ["ours", "Argo <v1.10.2>", "ours"]
    assert [len(_points(p)) for p in lines] == [3, 3, 3]
    assert len(root.findall(".//s:circle[@class='point']", NS)) == 9


def test_points_lie_in_the_plot_area_rising_right_and_up() -> None:
    first = _doc().findall(".//s:polyline[@class='series']", NS)
    for line in first:
        points = _points(line)
        for x, y in points:
            assert MARGIN_LEFT <= x <= WIDTH - MARGIN_RIGHT
            assert MARGIN_TOP <= y <= HEIGHT - MARGIN_BOTTOM
        xs, ys = zip(*points, strict=True)
        assert list(xs) == sorted(xs)  # more Rollouts: further right
        assert list(ys) == sorted(ys, reverse=True)  # more cost: higher up (smaller y)


def test_log_x_axis_has_decade_ticks_and_evenly_spaced_decades() -> None:
    group = ET.fromstring(panel("RSS", "Rollouts", "MiB",
                                [Series("a", [(100, 1.0), (1000, 2.0), (10000, 3.0)])]))
    ticks = [t.text for t in group.findall("text[@class='xtick']")]
    assert ticks == ["100", "1,000", "10,000"]
    xs = [x for x, _ in _points(group.find("polyline"))]  # type: ignore[arg-type]
    assert abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.2
    assert [t.text for t in group.findall("text[@class='xlabel']")] == ["Rollouts"]
    assert [t.text for t in group.findall("text[@class='ylabel']")] == ["MiB"]


def test_y_ticks_start_at_zero_and_cover_the_largest_value() -> None:
    group = ET.fromstring(panel("x", "n", "y", [Series("a", [(10, 0.0), (100, 730.0)])]))
    ticks = [float((t.text or "").replace(",", "")) for t in
             group.findall("text[@class='ytick']")]
    assert ticks[0] == 0 and ticks[-1] >= 730


def test_nice_ticks_use_round_steps() -> None:
    assert nice_ticks(0, 730) == [0, 200, 400, 600, 800]
    assert nice_ticks(0, 1) == [0, 0.5, 1]
    assert nice_ticks(0, 9.5) == [0, 5, 10]
    assert nice_ticks(0, 3000) == [0, 1000, 2000, 3000]
    assert nice_ticks(0, 2500) == [0, 1000, 2000, 3000]  # the top tick covers the maximum
