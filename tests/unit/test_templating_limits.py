"""Hostile templates stop at a named limit, quickly, with nothing but a TemplateError.

Whoever can commit to a repository an ApplicationSet reads, or edit the notifications
ConfigMap, writes templates the controllers run. Each test is one way to make a
template expensive (source, output, steps, nesting, a string that doubles, a regular
expression that backtracks, data that contains itself) and checks that it stops at the
limit that names it.
"""

from __future__ import annotations

import time

import pytest

from rollouts.templating import TemplateError, parse, render_go, sprig_argo
from rollouts.templating import go as go_module


def test_a_source_over_64_kib_is_refused_before_parsing() -> None:
    parse("x" * go_module.MAX_SOURCE_BYTES)
    with pytest.raises(TemplateError, match="source is 65537 bytes, over the limit of 65536 bytes"):
        parse("x" * (go_module.MAX_SOURCE_BYTES + 1), name="big")


def test_output_over_one_mib_is_refused() -> None:
    data = {"s": "x" * 1000, "l": list(range(2000))}
    with pytest.raises(TemplateError, match="output over the limit of 1048576 bytes"):
        render_go("{{ range .l }}{{ $.s }}{{ end }}", data)


def test_the_output_limit_can_be_set_per_execution() -> None:
    template = parse("{{ .s }}")
    assert template.execute({"s": "x" * 10}, max_output_bytes=10) == "x" * 10
    with pytest.raises(TemplateError, match="output over the limit of 10 bytes"):
        template.execute({"s": "x" * 11}, max_output_bytes=10)


def test_the_step_budget_stops_a_long_loop() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match="over the limit of 200000 evaluation steps"):
        render_go("{{ range .l }}{{ end }}", {"l": list(range(300_000))})
    assert time.monotonic() - started < 10


def test_nested_ranges_multiply_into_the_step_budget() -> None:
    source = "{{ range 1000 }}{{ range 1000 }}{{ end }}{{ end }}"
    with pytest.raises(TemplateError, match="evaluation steps"):
        render_go(source, {})


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("{{ if true }}" * 60 + "{{ end }}" * 60, id="ifs"),
        pytest.param("{{ " + "(" * 60 + "1" + ")" * 60 + " }}", id="parentheses"),
        pytest.param("{{ range .l }}" * 60 + "{{ end }}" * 60, id="ranges"),
    ],
)
def test_nesting_is_bounded_when_parsing(source: str) -> None:
    with pytest.raises(TemplateError, match="nesting deeper than the limit of 50 levels"):
        parse(source)


def test_a_template_that_calls_itself_stops_at_the_depth_limit() -> None:
    source = '{{ define "loop" }}x{{ template "loop" . }}{{ end }}{{ template "loop" . }}'
    with pytest.raises(TemplateError, match="nesting deeper than the limit of 50 levels"):
        render_go(source, {})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{{ repeat 2000000 "x" }}', "repeat would be 2000000 bytes, over the limit"),
        ('{{ indent 2000000 "x" }}', "indent would be 2000001 bytes, over the limit"),
        ('{{ printf "%200000d" 1 }}', "width or precision 200000 is over the limit of 100000"),
        ('{{ replace "" (repeat 1000 "y") (repeat 2000 "x") }}', "replace would be"),
        (
            '{{ regexReplaceAll "x" (repeat 2000 "x") (repeat 1000 "y") }}',
            "regexReplaceAll would be",
        ),
    ],
)
def test_functions_refuse_to_build_huge_strings(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render_go(source, {})


def test_a_string_that_doubles_in_a_loop_stops_at_the_output_limit() -> None:
    source = '{{ $s := "xxxxxxxxxx" }}{{ range 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}'
    with pytest.raises(TemplateError, match="over the limit of 1048576 bytes"):
        render_go(source, {})


def test_a_backtracking_regular_expression_runs_out_of_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sprig_argo, "REGEX_SECONDS", 0.05)
    started = time.monotonic()
    with pytest.raises(TemplateError, match="regular expression ran longer than the limit"):
        render_go('{{ regexMatch "^(a|aa)+$" .s }}', {"s": "a" * 200 + "!"})
    assert time.monotonic() - started < 5


def test_a_dict_that_contains_itself_cannot_be_printed_but_does_not_crash() -> None:
    source = '{{ $d := dict }}{{ $_ := set $d "me" $d }}{{ $d }}'
    with pytest.raises(TemplateError, match="nested deeper than 100 levels"):
        render_go(source, {})
    assert render_go('{{ $d := dict }}{{ $_ := set $d "me" $d }}[{{ toJson $d }}]', {}) == "[]"


def test_deeply_nested_data_is_refused_when_printed() -> None:
    data: dict[str, object] = {}
    node = data
    for _ in range(500):
        child: dict[str, object] = {}
        node["c"] = child
        node = child
    with pytest.raises(TemplateError, match="nested deeper than 100 levels"):
        render_go("{{ . }}", data)


@pytest.mark.parametrize("limit", ["MAX_STEPS", "MAX_DEPTH"])
def test_limits_are_module_constants_read_at_execution(
    monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    monkeypatch.setattr(go_module, limit, 3)
    source = "{{ range 10 }}{{ end }}" if limit == "MAX_STEPS" else (
        '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}'
    )
    with pytest.raises(TemplateError, match="limit of 3"):
        render_go(source, {})
