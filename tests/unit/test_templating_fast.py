"""ApplicationSet's default templating: `{{param}}` tags, as Argo CD substitutes them.

Argo CD (applicationset/utils Render.Replace) trims the white space inside a tag, looks
the name up as one flat key, writes a tag it has no parameter for back exactly as it was
written, returns a string without any `{{...}}` on one line untouched, and refuses a
string that has a tag and also a `{{` that never closes.
"""

from __future__ import annotations

import pytest

from rollouts.templating import TemplateError, render_fast

PARAMS = {
    "cluster": "in-cluster",
    "url": "https://kubernetes.default.svc",
    "path": "apps/guestbook",
    "path.basename": "guestbook",
    "path[0]": "apps",
    "values.size": "small",
    "empty": "",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{cluster}}", "in-cluster"),
        ("{{ cluster }}", "in-cluster"),
        ("{{\tcluster\t}}", "in-cluster"),
        ("{{path.basename}}-{{cluster}}", "guestbook-in-cluster"),
        ("{{path[0]}}/{{path}}", "apps/apps/guestbook"),
        ("{{values.size}}", "small"),
        ("[{{empty}}]", "[]"),
        ("{{cluster}}{{cluster}}", "in-clusterin-cluster"),
        ("no tags at all", "no tags at all"),
        # Unknown or empty tags stay exactly as written, spaces included.
        ("{{nope}}", "{{nope}}"),
        ("{{ nope }}-{{cluster}}", "{{ nope }}-in-cluster"),
        ("{{}} {{ }}", "{{}} {{ }}"),
        ("{{.cluster}}", "{{.cluster}}"),
        # A tag runs from a {{ to the next }}.
        ("{{ {{cluster}}", "{{ {{cluster}}"),
        ("{{cluster}}}}", "in-cluster}}"),
        # Without a complete tag on one line, nothing is touched, not even a lone {{.
        ("a {{ b", "a {{ b"),
        ("{{cluster\n}}", "{{cluster\n}}"),
        # With one, every tag is replaced, also one that spans lines.
        ("{{cluster}}\n{{ url\n}}", "in-cluster\nhttps://kubernetes.default.svc"),
    ],
)
def test_tags_take_their_parameter_or_stay_as_written(source: str, expected: str) -> None:
    assert render_fast(source, PARAMS) == expected


def test_values_are_inserted_as_they_are_and_never_templated_again() -> None:
    params = {"a": "{{b}}", "b": "no", "quote": '"x"\n'}
    assert render_fast("{{a}} {{quote}}", params) == '{{b}} "x"\n'


def test_a_tag_together_with_an_unclosed_one_is_an_error() -> None:
    with pytest.raises(TemplateError, match="cannot find end tag"):
        render_fast("{{cluster}} and {{ open", PARAMS)


def test_a_hostile_source_is_bounded() -> None:
    assert render_fast("{{cluster}}" + "x" * 70_000, PARAMS) == "in-cluster" + "x" * 70_000
    with pytest.raises(TemplateError, match="source is over the limit of 1048576 bytes"):
        render_fast("{{cluster}}" + "x" * 1_048_576, PARAMS)
    big = {"b": "x" * 60_000}
    with pytest.raises(TemplateError, match="output over the limit of 1048576 bytes"):
        render_fast("{{b}}" * 20, big)
