"""ApplicationSet's default templating (`goTemplate` unset): fasttemplate's `{{` `}}` tags.

    render_fast("{{cluster}}-{{ path.basename }}", {"cluster": "eu", "path.basename": "app"})
    # 'eu-app'

What Argo CD does, and so what we do:

- A tag is everything between a `{{` and the next `}}`; its name is that text with the
  surrounding white space trimmed, and is looked up as one flat key (`path.basename` is
  a key with a dot in it, not a path).
- A tag whose name is not a parameter (or is empty) is left exactly as written,
  `{{ unknown }}` included, so a later stage (or a human) can see it.
- A string without a complete `{{...}}` on one line is returned unchanged, even if it
  contains a lone `{{` elsewhere; one with a tag and also an unclosed `{{` is an error
  (fasttemplate refuses to compile it).
- Values are inserted as they are: nothing is escaped or re-templated.
- Bounded: source and output at most `MAX_OUTPUT_BYTES` (1 MiB) each.

Pure and linear in the size of the input. The ApplicationSet controller is the caller;
Go templates live in `go`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rollouts.templating.errors import MAX_OUTPUT_BYTES, TemplateError

__all__ = ["render_fast"]

# Argo CD's guard `.*{{.*}}.*`: Go's `.` does not cross a newline.
_HAS_TAG = re.compile(r"\{\{[^\n]*?\}\}")


def render_fast(source: str, params: Mapping[str, str]) -> str:
    """`source` with every `{{name}}` whose name is in `params` replaced by its value."""
    # Substitution is linear, so a source may be as large as an output (a Helm values
    # block is one string field); Go templates, which loop, have the smaller limit.
    if len(source) > MAX_OUTPUT_BYTES or len(source.encode()) > MAX_OUTPUT_BYTES:
        raise TemplateError(
            f"template: source is over the limit of {MAX_OUTPUT_BYTES} bytes; shorten it"
        )
    if not _HAS_TAG.search(source):
        return source
    out: list[str] = []
    size = 0
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            out.append(source[pos:])
            break
        end = source.find("}}", start + 2)
        if end < 0:
            raise TemplateError(
                f"invalid template: cannot find end tag '}}}}' for the '{{{{' at offset {start}"
            )
        out.append(source[pos:start])
        tag = source[start + 2 : end]
        name = tag.strip()
        value = params.get(name) if name else None
        piece = value if isinstance(value, str) else "{{" + tag + "}}"
        size += len(piece)
        if size > MAX_OUTPUT_BYTES:
            raise TemplateError(f"template: output over the limit of {MAX_OUTPUT_BYTES} bytes")
        out.append(piece)
        pos = end + 2
    return "".join(out)
