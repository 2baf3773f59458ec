"""The functions a Go template may call: Go's builtins, sprig's, and Argo CD's own.

Rows are the examples of Go's text/template and fmt documentation, sprig's
documentation (argument order as sprig has it: the piped value comes last) and Argo
CD's ApplicationSet documentation for `normalize` and `slugify`.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.templating import TemplateError, render_go

DATA = {
    "name": "guestbook",
    "env": "staging",
    "list": [1, 2, 3],
    "tags": ["a", "b"],
    "labels": {"team": "web", "app": "guestbook"},
    "nothing": None,
}


def case(source: str, expected: str) -> Any:
    return pytest.param(source, expected, id=source[:70])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Comparison: eq takes several right-hand sides; nil and no value equal only nil.
        case('{{ eq .env "dev" "staging" }}', "true"),
        case(
            '{{ eq .missing "x" }} {{ eq .nothing nil }} {{ eq .missing .nothing }}',
            "false true true",
        ),
        case(
            "{{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 2 3 }}",
            "true true true false false",
        ),
        case('{{ lt "apple" "banana" }}', "true"),
        # len counts the bytes of a string, as Go does.
        case('{{ len "héllo" }} {{ len .list }} {{ len .labels }}', "6 3 2"),
        # index and slice.
        case(
            '{{ index .list 1 }} {{ index .labels "team" }} {{ index .labels "nope" }}',
            "2 web <no value>",
        ),
        case('{{ index "abc" 1 }}', "98"),
        case('{{ slice "abcdef" 1 3 }} {{ slice .list 1 }} {{ slice .list }}', "bc [2 3] [1 2 3]"),
        # print adds spaces between operands when neither is a string; println always.
        case('{{ print 1 2 "a" 3 }}', "1 2a3"),
        case('{{ println "a" 1 }}', "a 1\n"),
        # printf verbs, flags, width and precision; Go's markers for a bad fit.
        case(
            '{{ printf "%s|%d|%v|%q|%t|%%" "s" 42 .tags "q\\"" true }}',
            's|42|[a b]|"q\\""|true|%',
        ),
        case(
            '{{ printf "%.2f|%8.3f|%-6d|%06d|%+d" 3.14159 2.5 7 42 5 }}',
            "3.14|   2.500|7     |000042|+5",
        ),
        case('{{ printf "%x|%X|%x|%o|%b|%c" 255 255 "hi" 8 5 65 }}', "ff|FF|6869|10|101|A"),
        case('{{ printf "%5s|%-5s|%.2s" "ab" "ab" "abcdef" }}', "   ab|ab   |ab"),
        case('{{ printf "%e|%g|%g" 1234.5678 0.00001 100000.0 }}', "1.234568e+03|1e-05|100000"),
        case(
            '{{ printf "%T %T %T %T" 1 "s" .list .labels }}',
            "int string []interface {} map[string]interface {}",
        ),
        case('{{ printf "%d" "x" }}', "%!d(string=x)"),
        case('{{ printf "%d" }}', "%!d(MISSING)"),
        case('{{ printf "%s" "a" "b" }}', "a%!(EXTRA string=b)"),
        case('{{ printf "%d" .nothing }}', "%!d(<nil>)"),
        # Escapers.
        case("{{ html \"<a href='x'>&</a>\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
        case("{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"),
        case('{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9"),
        case('{{ "a b" | urlquery }}', "a+b"),
        # sprig: defaults and logic.
        case(
            '{{ .missing | default "x" }} {{ "" | default "x" }} {{ "y" | default "x" }}',
            "x x y",
        ),
        case("{{ 0 | default 5 }} {{ .nothing | default 5 }} {{ default 5 }}", "5 5 5"),
        case('{{ empty "" }} {{ empty .list }} {{ empty .missing }}', "true false true"),
        case('{{ coalesce .missing "" "z" }} {{ coalesce 0 "" }}', "z <no value>"),
        case('{{ true | ternary "yes" "no" }} {{ ternary "yes" "no" (eq 1 2) }}', "yes no"),
        # sprig: strings.
        case(
            '{{ "Hello World" | lower }} {{ upper "hi" }} {{ title "hello wide-world" }}',
            "hello world HI Hello Wide-World",
        ),
        case('[{{ trim "  hi \\n" }}] {{ trimAll "$" "$5.00$" }}', "[hi] 5.00"),
        case('{{ trimPrefix "-" "-hello" }} {{ "hello-" | trimSuffix "-" }}', "hello hello"),
        case(
            '{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}'
            '|{{ trunc 50 "hi" }}|{{ trunc -50 "hi" }}',
            "hello|world|hi|hi",
        ),
        case('{{ substr 0 5 "hello world" }} {{ substr 6 -1 "hello world" }}', "hello world"),
        case('{{ "a.b.c" | replace "." "-" }}', "a-b-c"),
        case(
            '{{ contains "cat" "catch" }} {{ "catch" | hasPrefix "cat" }}'
            ' {{ hasSuffix "ch" "catch" }}',
            "true true true",
        ),
        case('{{ repeat 3 "ab" }} {{ nospace "a b\\tc" }} {{ cat "a" nil 1 }}', "ababab abc a 1"),
        case('{{ indent 2 "a\\nb" }}|{{ nindent 2 "a" }}', "  a\n  b|\n  a"),
        case('{{ quote "a\\"b" 1 }} {{ squote "a" }}', "\"a\\\"b\" \"1\" 'a'"),
        case('{{ $p := split "$" "foo$bar$baz" }}{{ $p._0 }} {{ $p._2 }}', "foo baz"),
        case('{{ splitList "," "a,b" }} {{ list "a" "b" 1 | join "-" }}', "[a b] a-b-1"),
        case('{{ toString 3 }}{{ toString true }}{{ toString .nothing }}', "3true<nil>"),
        # sprig: numbers, 64-bit and truncating toward zero as Go does.
        case(
            '{{ int "42" }} {{ int 3.9 }} {{ int "x" }} {{ int "0x10" }} {{ int "3.00" }}',
            "42 3 0 16 3",
        ),
        case("{{ add 1 2 3 }} {{ sub 5 7 }} {{ mul 2 3 4 }} {{ add1 9 }}", "6 -2 24 10"),
        case("{{ div 7 2 }} {{ div -7 2 }} {{ mod 7 3 }} {{ mod -7 3 }}", "3 -3 1 -1"),
        case("{{ max 1 5 3 }} {{ min 4 2 8 }}", "5 2"),
        case("{{ mul 9223372036854775807 2 }}", "-2"),
        # sprig: lists and dicts.
        case(
            "{{ first .list }} {{ last .list }} {{ rest .list }} {{ initial .list }}",
            "1 3 [2 3] [1 2]",
        ),
        case("{{ first (list) }}", "<no value>"),
        case(
            '{{ list 1 1 2 | uniq }} {{ has 2 .list }} {{ list "b" "a" | sortAlpha }}',
            "[1 2] true [a b]",
        ),
        case(
            '{{ $d := dict "b" 2 "a" 1 }}{{ $_ := set $d "c" 3 }}{{ keys $d }} {{ get $d "a" }}'
            ' {{ hasKey $d "z" }} [{{ get $d "z" }}] {{ values $d }}',
            "[a b c] 1 false [] [1 2 3]",
        ),
        case('{{ $d := dict "a" 1 }}{{ $_ := unset $d "a" }}{{ $d }}', "map[]"),
        case("{{ keys .labels }}", "[app team]"),
        # sprig: encodings.
        case(
            '{{ dict "b" 1 "a" (list "x" nil 1.5) "h" "<&>" | toJson }}',
            '{"a":["x",null,1.5],"b":1,"h":"\\u003c\\u0026\\u003e"}',
        ),
        case('{{ dict "h" "<&>" | toRawJson }}', '{"h":"<&>"}'),
        case(
            '{{ dict "a" 1 "b" (list 1 2) | toPrettyJson }}',
            '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}',
        ),
        case(
            "{{ .labels | toJson }} {{ .missing | toJson }} {{ 2.0 | toJson }}",
            '{"app":"guestbook","team":"web"} null 2',
        ),
        case(
            '{{ (fromJson "{\\"a\\": {\\"b\\": 2}}").a.b }} {{ fromJson "nope" }}',
            "2 <no value>",
        ),
        case('{{ "hello" | b64enc }} {{ "aGVsbG8=" | b64dec }}', "aGVsbG8= hello"),
        case(
            '{{ sha256sum "hello" }}',
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ),
        case('{{ sha1sum "hello" }}', "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        case(
            '{{ dict "name" "app" "list" (list 1 "two") | toYaml }}',
            "list:\n- 1\n- two\nname: app",
        ),
        case('{{ toYaml "plain" }}|{{ toYaml (dict) }}', "plain|{}"),
        # sprig: regular expressions (RE2 syntax, Go's $1 / ${1} expansion).
        case('{{ regexMatch "^[a-z]+-[0-9]+$" "app-42" }} {{ regexMatch "(" "x" }}', "true false"),
        case('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
        case('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }}', "---"),
        case('{{ regexReplaceAll "(?P<n>[0-9]+)" "v12" "<$n>" }}', "v<12>"),
        case('{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}', "-${1}-${1}-"),
        case(
            '{{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]" "a1b2c3" 2 }}',
            "12 [1 2]",
        ),
        # Argo CD: normalize (DNS-1123) and slugify (maxSize, smartTruncate, name).
        case('{{ normalize "Feature/My_Branch.v2!" }}', "feature-my-branch.v2"),
        case('{{ normalize ".-Leading and trailing-." }}', "leading-and-trailing"),
        case('{{ "Prod_EU" | normalize }}', "prod-eu"),
        case('{{ slugify "Hello World" }}', "hello-world"),
        case('{{ slugify 11 "Hello World Again" }}', "hello-world"),
        case('{{ slugify 8 "Hello World Again" }}', "hello"),
        case('{{ slugify 8 false "Hello World Again" }}', "hello-wo"),
        case('{{ slugify 3 true "abcdef" }}', "abc"),
        case('{{ slugify "a.b__c" }}', "a-b-c"),
    ],
)
def test_function_examples(source: str, expected: str) -> None:
    assert render_go(source, DATA) == expected


def test_normalize_cuts_at_253_characters_like_a_dns_subdomain() -> None:
    assert render_go("{{ normalize .n }}", {"n": "A" * 300}) == "a" * 253


def test_slugify_defaults_to_fifty_characters_cut_at_a_dash() -> None:
    name = "-".join(["word"] * 20)  # 99 characters
    out = render_go("{{ slugify .n }}", {"n": name})
    assert out == "-".join(["word"] * 10)  # 49 characters: the last dash at or before 50
    assert len(out) <= 50


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ div 1 0 }}", "error calling div: integer divide by zero"),
        ('{{ index .list 9 }}', "error calling index: index out of range: 9"),
        ('{{ index .list "a" }}', "cannot index slice/array with type string"),
        ("{{ index .nothing 1 }}", "index of untyped nil"),
        ("{{ len .missing }}", "error calling len: len of nil pointer"),
        ("{{ len 3 }}", "len of type int"),
        ('{{ slice "abc" 2 1 }}', "invalid slice index: 2 > 1"),
        ('{{ ternary "a" "b" "yes" }}', "ternary needs a bool"),
        ('{{ trunc "5" "abc" }}', "wrong type for value; expected int; got string"),
        ('{{ regexReplaceAll "(" "x" "y" }}', "error parsing regexp"),
        ("{{ first .name }}", "expected []interface {}; got string"),
        ('{{ get .name "a" }}', "expected map[string]interface {}; got string"),
        ('{{ repeat -1 "a" }}', "negative repeat count"),
        ("{{ eq 1 }}", "missing argument for comparison"),
        ("{{ and }}", "wrong number of args for and: want at least 1 got 0"),
        ('{{ slugify 1 true "x" "y" }}', "slugify takes at most 3 arguments"),
    ],
)
def test_function_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render_go(source, DATA, name="t")
    assert message in str(raised.value)
    assert str(raised.value).startswith("template t:1:")


def test_functions_that_read_the_environment_or_the_clock_do_not_exist() -> None:
    for name in ("env", "expandenv", "now", "randAlphaNum", "getHostByName"):
        with pytest.raises(TemplateError, match=f'function "{name}" not defined'):
            render_go("{{ " + name + ' "x" }}', {})
