"""The parser of Go's text/template: tokens from `go_lex` in, a tree of nodes out.

It checks what Go checks at parse time: functions must exist (`function "x" not
defined`), variables must be declared before use (`undefined variable "$x"`), `end` and
`else` must match a control structure, `break` and `continue` only inside `range`,
`define` only at the top level, and only functions (or fields) may take arguments in
later pipeline stages. Nesting of control structures and parentheses is bounded by
`MAX_DEPTH` so that a hostile template cannot exhaust the Python stack.

The nodes are plain frozen dataclasses the executor (`go_exec`) walks; `src` on the
nodes that can fail at run time is the template text of that node, quoted in errors.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from rollouts.templating.errors import MAX_DEPTH
from rollouts.templating.go_lex import Token, lex, template_error

__all__ = [
    "Action",
    "Break",
    "Command",
    "Continue",
    "Dot",
    "Field",
    "Func",
    "If",
    "Literal",
    "Nil",
    "Node",
    "Operand",
    "Pipe",
    "PipeExpr",
    "Range",
    "TemplateCall",
    "Text",
    "Var",
    "With",
    "parse_tree",
]


@dataclass(frozen=True, slots=True)
class Dot:
    pos: int


@dataclass(frozen=True, slots=True)
class Nil:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal:
    pos: int
    value: Any


@dataclass(frozen=True, slots=True)
class Func:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class Field:
    """`.a.b`: a chain of keys read from dot."""

    pos: int
    names: tuple[str, ...]
    src: str


@dataclass(frozen=True, slots=True)
class Var:
    """`$x` or `$x.a.b`."""

    pos: int
    name: str
    names: tuple[str, ...]
    src: str


@dataclass(frozen=True, slots=True)
class PipeExpr:
    """`(pipeline)`, optionally followed by fields: `(index .x 0).name`."""

    pos: int
    pipe: Pipe
    names: tuple[str, ...]
    src: str


Operand = Dot | Nil | Literal | Func | Field | Var | PipeExpr


@dataclass(frozen=True, slots=True)
class Command:
    pos: int
    args: tuple[Operand, ...]
    src: str


@dataclass(frozen=True, slots=True)
class Pipe:
    pos: int
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Text:
    pos: int
    text: str


@dataclass(frozen=True, slots=True)
class Action:
    pos: int
    pipe: Pipe


@dataclass(frozen=True, slots=True)
class If:
    pos: int
    pipe: Pipe
    body: tuple[Node, ...]
    else_body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class With:
    pos: int
    pipe: Pipe
    body: tuple[Node, ...]
    else_body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Range:
    pos: int
    pipe: Pipe
    body: tuple[Node, ...]
    else_body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class TemplateCall:
    pos: int
    name: str
    pipe: Pipe | None


@dataclass(frozen=True, slots=True)
class Break:
    pos: int


@dataclass(frozen=True, slots=True)
class Continue:
    pos: int


Node = Text | Action | If | With | Range | TemplateCall | Break | Continue

_NOT_EXECUTABLE = (Dot, Nil, Literal)


def _describe(token: Token) -> str:
    if token.kind == "EOF":
        return "EOF"
    if token.kind == "RIGHT":
        return '"}}"'
    if token.kind in ("STRING", "NUMBER", "CHAR"):
        return f"{token.kind.lower()} {token.value!r}"
    if token.kind == "FIELD":
        return f"<.{token.value}>"
    return f"<{token.value}>" if token.value is not None else token.kind.lower()


class _Parser:
    def __init__(self, source: str, name: str, funcs: Collection[str]) -> None:
        self.source = source
        self.name = name
        self.funcs = funcs
        self.tokens = lex(source, name)
        self.index = 0
        self.vars: list[str] = ["$"]
        self.depth = 0
        self.defines: dict[str, tuple[Node, ...]] = {}
        self.stop_pos = 0

    # -- tokens ------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def fail(self, pos: int, message: str) -> Exception:
        return template_error(self.name, self.source, pos, message)

    def expect(self, kind: str, context: str) -> Token:
        token = self.next()
        if token.kind != kind:
            raise self.fail(token.pos, f"unexpected {_describe(token)} in {context}")
        return token

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(pos, f"nesting deeper than the limit of {MAX_DEPTH} levels")

    def src(self, start: int) -> str:
        end = self.tokens[self.index - 1].end
        return self.source[start:end]

    # -- lists and actions -------------------------------------------------------------
    def parse_list(self, in_range: bool, top: bool = False) -> tuple[list[Node], str | None]:
        """Nodes up to `{{end}}` or `{{else` (returned as the stop word) or EOF (None)."""
        nodes: list[Node] = []
        while True:
            token = self.next()
            if token.kind == "EOF":
                return nodes, None
            if token.kind == "TEXT":
                nodes.append(Text(token.pos, token.value))
                continue
            word = self.peek()
            if word.kind == "KEYWORD":
                if word.value in ("end", "else"):
                    self.stop_pos = word.pos
                    self.next()
                    if word.value == "end":
                        self.expect("RIGHT", "end")
                    return nodes, word.value
                self.next()
                nodes.extend(self.keyword_action(word, in_range, top))
                continue
            pipe = self.pipeline("command", allow_decl=True)
            self.expect("RIGHT", "command")
            nodes.append(Action(word.pos, pipe))

    def keyword_action(self, word: Token, in_range: bool, top: bool) -> list[Node]:
        if word.value in ("if", "with", "range"):
            return [self.control(word.value, word.pos, in_range)]
        if word.value in ("break", "continue"):
            if not in_range:
                raise self.fail(word.pos, f"{{{{{word.value}}}}} outside {{{{range}}}}")
            self.expect("RIGHT", word.value)
            return [Break(word.pos) if word.value == "break" else Continue(word.pos)]
        if word.value == "define":
            if not top:
                raise self.fail(word.pos, "{{define}} is only allowed at the top level")
            name = self.expect("STRING", "define clause").value
            self.expect("RIGHT", "define clause")
            self.defines[name] = self.definition_body(word.pos)
            return []
        if word.value == "block":
            name = self.expect("STRING", "block clause").value
            block_pipe = self.pipeline("block clause", allow_decl=False)
            self.expect("RIGHT", "block clause")
            self.defines[name] = self.definition_body(word.pos)
            return [TemplateCall(word.pos, name, block_pipe)]
        # template
        name = self.expect("STRING", "template clause").value
        pipe: Pipe | None = None
        if self.peek().kind != "RIGHT":
            pipe = self.pipeline("template clause", allow_decl=False)
        self.expect("RIGHT", "template clause")
        return [TemplateCall(word.pos, name, pipe)]

    def definition_body(self, pos: int) -> tuple[Node, ...]:
        outer_vars, self.vars = self.vars, ["$"]
        self.enter(pos)
        body, stop = self.parse_list(False)
        self.depth -= 1
        self.vars = outer_vars
        if stop != "end":
            raise self.fail(pos, "unexpected EOF: {{define}} or {{block}} has no {{end}}")
        return tuple(body)

    def control(self, kind: str, pos: int, in_range: bool) -> Node:
        self.enter(pos)
        mark = len(self.vars)
        pipe = self.pipeline(kind, allow_decl=True, range_decl=kind == "range")
        self.expect("RIGHT", kind)
        body, stop = self.parse_list(in_range or kind == "range")
        else_body: list[Node] = []
        if stop == "else":
            chained = self.peek()
            if kind != "range" and chained.kind == "KEYWORD" and chained.value == kind:
                # `{{else if ...}}` and `{{else with ...}}` nest a control that ends here.
                self.next()
                else_body = [self.control(kind, chained.pos, in_range)]
            else:
                self.expect("RIGHT", "else")
                else_body, stop = self.parse_list(in_range)
                if stop != "end":
                    where = "EOF" if stop is None else "{{else}}"
                    raise self.fail(pos, f"expected {{{{end}}}} for {{{{{kind}}}}}, found {where}")
        elif stop is None:
            raise self.fail(pos, f"unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}")
        del self.vars[mark:]
        self.depth -= 1
        if kind == "if":
            return If(pos, pipe, tuple(body), tuple(else_body))
        if kind == "with":
            return With(pos, pipe, tuple(body), tuple(else_body))
        return Range(pos, pipe, tuple(body), tuple(else_body))

    # -- pipelines ---------------------------------------------------------------------
    def pipeline(self, context: str, *, allow_decl: bool, range_decl: bool = False) -> Pipe:
        start = self.peek()
        decl: list[str] = []
        is_assign = False
        if allow_decl and start.kind == "VARIABLE":
            names = [start.value]
            ahead = 1
            if range_decl and self.peek(1).kind == "COMMA" and self.peek(2).kind == "VARIABLE":
                names.append(self.peek(2).value)
                ahead = 3
            if self.peek(ahead).kind in ("DECLARE", "ASSIGN"):
                is_assign = self.peek(ahead).kind == "ASSIGN"
                for name in names if is_assign else ():
                    if name not in self.vars:
                        raise self.fail(start.pos, f'undefined variable "{name}"')
                self.index += ahead + 1
                decl = names
        cmds: list[Command] = []
        while True:
            if self.peek().kind in ("RIGHT", "RPAREN", "PIPE", "EOF"):
                raise self.fail(self.peek().pos, f"missing value for {context}")
            cmds.append(self.command())
            if self.peek().kind != "PIPE":
                break
            self.next()
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], _NOT_EXECUTABLE):
                raise self.fail(cmd.pos, f"non executable command in pipeline stage {stage}")
        if decl and not is_assign:
            self.vars.extend(decl)
        return Pipe(start.pos, tuple(decl), is_assign, tuple(cmds))

    def command(self) -> Command:
        start = self.peek().pos
        args: list[Operand] = []
        while self.peek().kind not in ("PIPE", "RIGHT", "RPAREN", "EOF"):
            token = self.peek()
            if args and not token.space_before and token.kind != "LPAREN":
                raise self.fail(token.pos, f"missing space before {_describe(token)}?")
            args.append(self.operand())
        return Command(start, tuple(args), self.src(start))

    def operand(self) -> Operand:
        token = self.peek()
        node = self.term()
        names: list[str] = []
        while self.peek().kind == "FIELD" and not self.peek().space_before:
            names.append(self.next().value)
        if not names:
            return node
        src = self.src(token.pos)
        if isinstance(node, Field):
            return Field(node.pos, node.names + tuple(names), src)
        if isinstance(node, Var):
            return Var(node.pos, node.name, tuple(names), src)
        if isinstance(node, PipeExpr):
            return PipeExpr(node.pos, node.pipe, tuple(names), src)
        raise self.fail(token.pos, f"unexpected . after term {src!r}")

    def term(self) -> Operand:
        token = self.next()
        kind = token.kind
        if kind == "IDENT":
            if token.value not in self.funcs:
                raise self.fail(token.pos, f'function "{token.value}" not defined')
            return Func(token.pos, token.value)
        if kind == "DOT":
            return Dot(token.pos)
        if kind == "NIL":
            return Nil(token.pos)
        if kind == "VARIABLE":
            if token.value not in self.vars:
                raise self.fail(token.pos, f'undefined variable "{token.value}"')
            return Var(token.pos, token.value, (), token.value)
        if kind == "FIELD":
            return Field(token.pos, (token.value,), "." + token.value)
        if kind in ("BOOL", "NUMBER", "STRING", "CHAR"):
            return Literal(token.pos, token.value)
        if kind == "LPAREN":
            self.enter(token.pos)
            pipe = self.pipeline("parenthesized pipeline", allow_decl=False)
            self.expect("RPAREN", "parenthesized pipeline")
            self.depth -= 1
            return PipeExpr(token.pos, pipe, (), self.src(token.pos))
        raise self.fail(token.pos, f"unexpected {_describe(token)} in operand")


def parse_tree(
    source: str, name: str, funcs: Collection[str]
) -> tuple[tuple[Node, ...], dict[str, tuple[Node, ...]]]:
    """The main tree of `source` and the templates it defines (`define`, `block`)."""
    parser = _Parser(source, name, funcs)
    nodes, stop = parser.parse_list(False, top=True)
    if stop is not None:
        raise parser.fail(parser.stop_pos, f"unexpected {{{{{stop}}}}}")
    return tuple(nodes), parser.defines
