"""Go templates (text/template with sprig), as ApplicationSets and notifications use them.

    tmpl = parse('{{ .cluster.name | normalize }}-{{ .path.basename }}', name="app")
    tmpl.execute({"cluster": {"name": "Prod_EU"}, "path": {"basename": "guestbook"}})
    # 'prod-eu-guestbook'

    render_go('{{ .missing }}', {})                          # '<no value>'
    render_go('{{ .missing }}', {}, missing_key_error=True)  # TemplateError:
    # template template:1:3: at <.missing>: map has no entry for key "missing"

Parse once, execute many times: a `GoTemplate` is immutable and safe to share. The
language is Go's text/template (see `go_lex`, `go_parse`, `go_exec` for the details and
the checks), with Go's builtins (`go_funcs`) and sprig's functions (`sprig`,
`sprig_argo`) including Argo CD's `normalize`, `slugify` and `toYaml`. Functions that
read the environment or the clock (`env`, `expandenv`, `now`, random strings) are not
provided, so rendering is a pure function of the template and the data.

Every failure is a `TemplateError` (a ValueError) with a one-line message; hostile
templates are bounded by `MAX_SOURCE_BYTES`, `MAX_OUTPUT_BYTES` (overridable per
execution), `MAX_STEPS` and `MAX_DEPTH`. Callers: the ApplicationSet controller (with
`goTemplate: true`; `goTemplateOptions: ["missingkey=error"]` is `missing_key_error`)
and the notifications controller (templates and trigger messages).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rollouts.templating import errors
from rollouts.templating.errors import TemplateError
from rollouts.templating.go_exec import Limits, execute_tree
from rollouts.templating.go_funcs import BUILTINS
from rollouts.templating.go_parse import Node, parse_tree
from rollouts.templating.sprig import SPRIG
from rollouts.templating.sprig_argo import ARGO

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_OUTPUT_BYTES",
    "MAX_SOURCE_BYTES",
    "MAX_STEPS",
    "GoTemplate",
    "TemplateError",
    "parse",
    "render_go",
]

MAX_SOURCE_BYTES = errors.MAX_SOURCE_BYTES
MAX_OUTPUT_BYTES = errors.MAX_OUTPUT_BYTES
MAX_STEPS = errors.MAX_STEPS
MAX_DEPTH = errors.MAX_DEPTH

FUNCTIONS: Mapping[str, Callable[..., Any]] = {**SPRIG, **ARGO, **BUILTINS}
"""Every function a template may call, by name (Go's builtins win over sprig's)."""


class GoTemplate:
    """A parsed template: `execute` it with data as often as needed."""

    __slots__ = ("_defines", "_root", "name", "source")

    def __init__(
        self, name: str, source: str, root: tuple[Node, ...], defines: dict[str, tuple[Node, ...]]
    ) -> None:
        self.name = name
        self.source = source
        self._root = root
        self._defines = defines

    def __repr__(self) -> str:
        return f"GoTemplate(name={self.name!r})"

    def execute(
        self,
        data: Mapping[str, Any],
        *,
        missing_key_error: bool = False,
        max_output_bytes: int | None = None,
    ) -> str:
        """The text the template produces over `data` (dot and `$` are `data`).

        `missing_key_error` is Go's `missingkey=error`: reading a key that is not there
        fails instead of giving `<no value>`. `max_output_bytes` overrides
        `MAX_OUTPUT_BYTES` for this execution.
        """
        limits = Limits(
            max_output=MAX_OUTPUT_BYTES if max_output_bytes is None else max_output_bytes,
            max_steps=MAX_STEPS,
            max_depth=MAX_DEPTH,
        )
        return execute_tree(
            name=self.name,
            source=self.source,
            root=self._root,
            defines=self._defines,
            funcs=FUNCTIONS,
            data=data,
            missing_key_error=missing_key_error,
            limits=limits,
        )


def parse(source: str, *, name: str = "template") -> GoTemplate:
    """Parse `source` once; a `TemplateError` says what is wrong and where."""
    size = len(source.encode(errors="surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise TemplateError(
            f"template {name}: source is {size} bytes, over the limit of {MAX_SOURCE_BYTES} bytes"
        )
    try:
        root, defines = parse_tree(source, name, FUNCTIONS)
    except RecursionError:
        raise TemplateError(f"template {name}: nested too deeply to parse") from None
    return GoTemplate(name, source, root, defines)


def render_go(
    source: str,
    data: Mapping[str, Any],
    *,
    name: str = "template",
    missing_key_error: bool = False,
) -> str:
    """`parse(source, name=name).execute(data, missing_key_error=missing_key_error)`."""
    return parse(source, name=name).execute(data, missing_key_error=missing_key_error)
