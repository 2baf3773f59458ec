"""Go's text/template semantics, as examples in the style of Go's own documentation.

Each row is a template, its data and what Go prints; together they walk through the
language: text and trim markers, fields, variables, pipelines, control structures,
printing of values, and the parse and execution errors with their positions. The
functions are in test_templating_funcs.py, the limits in test_templating_limits.py.
"""

from __future__ import annotations

from typing import Any

import pytest

import rollouts.templating as templating
from rollouts.templating import GoTemplate, TemplateError, parse, render_go

APP = {
    "name": "guestbook",
    "cluster": {"name": "in-cluster", "server": "https://kubernetes.default.svc"},
    "env": "staging",
    "replicas": 3,
    "ratio": 2.5,
    "enabled": True,
    "disabled": False,
    "nothing": None,
    "tags": ["a", "b"],
    "numbers": [1, 2, 3, 4, 5],
    "labels": {"team": "web", "app": "guestbook"},
    "empty": [],
}


def run(source: str, data: dict[str, Any] | None = None, **options: Any) -> str:
    return render_go(source, APP if data is None else data, **options)


def case(source: str, expected: str, data: dict[str, Any] | None = None) -> Any:
    return pytest.param(source, data, expected, id=source[:60])


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        # Text is copied; trim markers eat the white space on their side.
        case("plain text", "plain text"),
        case("a  {{- .name -}}  b", "aguestbookb"),
        case("a  {{- .name }}  b", "aguestbook  b"),
        case("a\n\t{{- .name -}}\n\tb", "aguestbookb"),
        case("{{-3}}", "-3"),  # no space after the dash: a negative number
        case("x{{/* a comment */}}y", "xy"),
        case("x {{- /* trimmed comment */ -}} y", "xy"),
        case("{{/* a\nmulti-line\ncomment */}}ok", "ok"),
        # Literals.
        case('{{ "tab\\tquote\\"" }}', 'tab\tquote"'),
        case("{{ `raw \\n kept` }}", "raw \\n kept"),
        case("{{ 'a' }}", "97"),
        case("{{ 0x1F }} {{ 1_000 }} {{ 017 }} {{ 0b101 }}", "31 1000 15 5"),
        case("{{ 1.5 }} {{ 1e6 }} {{ 2.0 }}", "1.5 1e+06 2"),
        case("{{ true }} {{ false }}", "true false"),
        # Fields read map keys; chains go deeper; dot and $ are the data.
        case("{{ .name }}", "guestbook"),
        case("{{ .cluster.server }}", "https://kubernetes.default.svc"),
        case("{{ .labels.team }}/{{ $.labels.app }}", "web/guestbook"),
        case("{{ .missing }}", "<no value>"),
        case("{{ .cluster.missing }}", "<no value>"),
        case("{{ .missing.deeper.still }}", "<no value>"),
        case("{{ .nothing }}", "<no value>"),
        # Values print as Go's fmt prints them.
        case("{{ .tags }}", "[a b]"),
        case("{{ .labels }}", "map[app:guestbook team:web]"),
        case(
            "{{ . }}",
            "map[a:[1 <nil> true] b:map[c:1.5]]",
            {"a": [1, None, True], "b": {"c": 1.5}},
        ),
        case("{{ .replicas }} {{ .ratio }} {{ .enabled }}", "3 2.5 true"),
        case("{{ .f }} {{ .g }} {{ .h }}", "100000 1e+06 1e-05", {"f": 1e5, "g": 1e6, "h": 1e-5}),
        case("{{ .i }}", "1.23456789e+08", {"i": 123456789.0}),
        case("{{ .empty }}", "[]"),
        # Variables: declared with :=, assigned with =, scoped to their control structure.
        case("{{ $x := .name }}{{ $x }}", "guestbook"),
        case("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        case("{{ $c := .cluster }}{{ $c.name }}", "in-cluster"),
        case("{{ with $c := .cluster }}{{ $c.name }}{{ end }}", "in-cluster"),
        case("{{ range .tags }}{{ $.name }}:{{ . }} {{ end }}", "guestbook:a guestbook:b "),
        # Pipelines pass their value as the last argument.
        case('{{ .name | printf "%s-%s" "app" }}', "app-guestbook"),
        case('{{ .name | upper | printf "[%s]" }}', "[GUESTBOOK]"),
        case("{{ (index .numbers 1) }}", "2"),
        case("{{ (.cluster).name }}", "in-cluster"),
        case('{{ (dict "k" (dict "n" "deep")).k.n }}', "deep"),
        case("{{ len .tags | printf \"%d tags\" }}", "2 tags"),
        # if / else if / else.
        case("{{ if .enabled }}on{{ else }}off{{ end }}", "on"),
        case("{{ if .disabled }}on{{ else }}off{{ end }}", "off"),
        case('{{ if eq .env "prod" }}P{{ else if eq .env "staging" }}S{{ else }}D{{ end }}', "S"),
        case("{{ if .missing }}yes{{ else }}no{{ end }}", "no"),
        case("{{ if .empty }}yes{{ else }}no{{ end }}", "no"),
        case('{{ if "" }}yes{{ else }}no{{ end }}', "no"),
        case("{{ if 0 }}yes{{ else }}no{{ end }}", "no"),
        case("{{ if .labels }}yes{{ end }}", "yes"),
        # and/or return an argument and stop at the first that decides.
        case("{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" \"x\" }} [{{ or 0 \"\" }}]", "0 2 x []"),
        case("{{ or .name (index .nothing 1) }}", "guestbook"),
        case("{{ and .missing (index .nothing 1) }}", "<no value>"),
        case("{{ not .missing }} {{ not .name }}", "true false"),
        # with / else with / else.
        case("{{ with .cluster }}{{ .name }}{{ end }}", "in-cluster"),
        case("{{ with .missing }}x{{ else }}none{{ end }}", "none"),
        case("{{ with .missing }}A{{ else with .env }}{{ . }}{{ else }}none{{ end }}", "staging"),
        # range over lists, maps (sorted keys) and integers, with else, break, continue.
        case("{{ range $i, $t := .tags }}{{ $i }}={{ $t }};{{ end }}", "0=a;1=b;"),
        case("{{ range $k, $v := .labels }}{{ $k }}={{ $v }};{{ end }}", "app=guestbook;team=web;"),
        case("{{ range .labels }}{{ . }};{{ end }}", "guestbook;web;"),
        case("{{ range .empty }}x{{ else }}nothing{{ end }}", "nothing"),
        case("{{ range .missing }}x{{ else }}nothing{{ end }}", "nothing"),
        case("{{ range 3 }}{{ . }}{{ end }}", "012"),
        case(
            "{{ range .numbers }}{{ if eq . 2 }}{{ continue }}{{ end }}"
            "{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            "13",
        ),
        case("{{ range $i, $n := .numbers }}{{ $d := $n }}{{ end }}done", "done"),
        case("{{ range 100 }}{{ if true }}{{ continue }}{{ end }}{{ end }}ok", "ok"),
        # define / template / block.
        case('{{ define "T" }}<{{ . }}>{{ end }}{{ template "T" .name }}', "<guestbook>"),
        case('{{ define "T" }}[{{ $ }}]{{ end }}{{ template "T" "x" }}', "[x]"),
        case('{{ block "B" .env }}({{ . }}){{ end }}', "(staging)"),
        case('{{ define "T" }}{{ . }}{{ end }}{{ template "T" }}', "<no value>"),
    ],
)
def test_a_template_prints_what_go_prints(source: str, data: Any, expected: str) -> None:
    assert run(source, data) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("{{ .name }}", "guestbook", id="present"),
        pytest.param("{{ if .missing }}y{{ else }}n{{ end }}", None, id="if-reads-it"),
        pytest.param("{{ .missing | default \"x\" }}", None, id="default-does-not-help"),
        pytest.param('{{ index .labels "nope" }}', "<no value>", id="index-is-not-a-field"),
        pytest.param('{{ hasKey .labels "nope" }}', "false", id="hasKey-is-the-way"),
    ],
)
def test_missing_key_error_fails_on_any_field_that_is_not_there(
    source: str, expected: str | None
) -> None:
    if expected is None:
        with pytest.raises(TemplateError, match='map has no entry for key "missing"'):
            run(source, missing_key_error=True)
    else:
        assert run(source, missing_key_error=True) == expected


def test_the_missing_key_message_names_the_template_the_place_and_the_key() -> None:
    with pytest.raises(TemplateError) as raised:
        render_go("name: {{ .cluster.nam }}", APP, name="app", missing_key_error=True)
    assert str(raised.value) == (
        'template app:1:9: at <.cluster.nam>: map has no entry for key "nam"'
    )


@pytest.mark.parametrize(
    ("source", "data", "message"),
    [
        ("first\n  {{ .name.first }}", APP, "template t:2:5: at <.name.first>: "
         "can't evaluate field first in type string"),
        ("{{ .nothing.field }}", APP, "template t:1:3: at <.nothing.field>: "
         "can't evaluate field field of a nil value"),
        ("{{ .tags.first }}", APP, "template t:1:3: at <.tags.first>: "
         "can't evaluate field first in type []interface {}"),
        ("{{ 1 2 }}", APP, "template t:1:3: at <1 2>: can't give argument to non-function 1"),
        ("{{ .name 2 }}", APP, "can't give argument to non-function .name"),
        ("{{ nil }}", APP, "nil is not a command"),
        ("{{ lower 1 2 }}", APP, "wrong number of args for lower: want 1 got 2"),
        ("{{ lower .replicas }}", APP, "error calling lower: wrong type for value; "
         "expected string; got int"),
        ("{{ lower .missing }}", APP, "error calling lower: invalid value; expected string"),
        ('{{ template "nope" }}', APP, 'no template "nope" defined'),
        ("{{ range .name }}{{ end }}", APP, "range can't iterate over guestbook"),
        ('{{ eq 1 "1" }}', APP, "error calling eq: incompatible types for comparison"),
        ("{{ lt true false }}", APP, "error calling lt: invalid type for comparison"),
        ("{{ eq .tags .tags }}", APP, "non-comparable type"),
    ],
)
def test_execution_errors_say_where_and_why(source: str, data: Any, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render_go(source, data, name="t")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ .name ", "template t:1:9: unclosed action"),
        ("{{ end }}", "template t:1:3: unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ if .x }}a", "template t:1:3: unexpected EOF: {{if}} has no {{end}}"),
        ("{{ range .x }}a{{ else }}b{{ else }}c{{ end }}", "expected {{end}} for {{range}}"),
        ("{{ nofunc 1 }}", 'template t:1:3: function "nofunc" not defined'),
        ("{{ $x }}", 'undefined variable "$x"'),
        ("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"'),
        ("{{ $z = 1 }}", 'undefined variable "$z"'),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ('{{ .name | "x" }}', "non executable command in pipeline stage 2"),
        ('{{ "open }}', "unterminated quoted string"),
        ("{{ `open }}", "unterminated raw quoted string"),
        ("{{/* open }}", "unclosed comment"),
        ("{{/* c */ x }}", "comment ends before closing delimiter"),
        ("{{ if }}{{ end }}", "missing value for if"),
        ("{{ . | }}", "missing value for command"),
        ("{{ ( .name }}", 'unexpected "}}" in parenthesized pipeline'),
        ("{{ 1x }}", "bad number syntax"),
        ("{{ # }}", "unrecognized character in action: '#'"),
        ('{{ "\\q" }}', "unknown escape sequence \\q"),
        ("{{ .a\"b\" }}", "missing space"),
        ('{{ if true }}{{ define "x" }}{{ end }}{{ end }}', "only allowed at the top level"),
        ("line one\nline two {{ end }}", "template t:2:12: unexpected {{end}}"),
    ],
)
def test_parse_errors_name_the_template_line_and_column(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        parse(source, name="t")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_parsed_template_is_reused_and_never_changes_its_data() -> None:
    template = parse('{{ .name }}-{{ $d := dict "k" .name }}{{ $_ := set $d "k" "x" }}{{ $d.k }}')
    first = {"name": "one"}
    assert template.execute(first) == "one-x"
    assert template.execute({"name": "two"}) == "two-x"
    assert first == {"name": "one"}


def test_set_refuses_to_change_the_callers_data() -> None:
    data = {"labels": {"a": "1"}}
    with pytest.raises(TemplateError, match="read-only"):
        render_go('{{ $_ := set .labels "a" "2" }}', data)
    assert data == {"labels": {"a": "1"}}


def test_call_invokes_a_function_passed_in_the_data() -> None:
    data = {"repo": {"to_https": lambda url: url.replace("git@github.com:", "https://github.com/")}}
    out = render_go("{{ call .repo.to_https .url }}", {**data, "url": "git@github.com:o/r"})
    assert out == "https://github.com/o/r"
    with pytest.raises(TemplateError, match="error calling call: non-function of type string"):
        render_go("{{ call .url }}", {"url": "x"})


def test_the_public_surface_is_pinned() -> None:
    assert sorted(templating.__all__) == [
        "GoTemplate", "TemplateError", "normalize", "parse", "render_fast", "render_go",
    ]
    assert issubclass(TemplateError, ValueError)
    assert isinstance(parse("x", name="n"), GoTemplate)
    assert parse("x", name="n").name == "n"
