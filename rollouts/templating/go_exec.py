"""The executor of Go's text/template: walks a parsed tree over JSON-like data.

Semantics are Go's: dot is the current value, `$` the data (or a called template's
argument); fields read map keys, and a key that is not there is "no value", printed as
`<no value>`, or with `missing_key_error` the error `map has no entry for key "k"`
(Go's `missingkey=error`); a field of nil is an error, as in Go. Variables are scoped to
the control structure that declared them; `=` assigns an existing one. `if`, `with`
and `range` use Go's truth; `range` walks lists in order, maps in sorted key order and
integers from 0, with `break`, `continue` and `else`. `and`/`or` stop at the first
deciding argument. A pipeline's value is passed as the LAST argument of the next
command.

Bounds (see `errors`): output bytes, evaluation steps, and nesting depth of control
structures plus template calls; every string a function returns, and the strings it is
given, are held to the output limit too. Each failure is a `TemplateError` with the
template's name, line:column and the source of the command at fault.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rollouts.templating.errors import BUILD_LIMIT, FunctionError, TemplateError
from rollouts.templating.go_funcs import LAZY
from rollouts.templating.go_lex import template_error
from rollouts.templating.go_parse import (
    Action,
    Break,
    Command,
    Continue,
    Dot,
    Field,
    Func,
    If,
    Literal,
    Nil,
    Node,
    Operand,
    Pipe,
    PipeExpr,
    Range,
    TemplateCall,
    Text,
    Var,
    With,
)
from rollouts.templating.go_values import MISSING, format_value, go_type_name, is_list, is_true

__all__ = ["Limits", "execute_tree"]

_NO_FINAL: Any = object()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Limits:
    """What one execution may spend."""

    __slots__ = ("max_depth", "max_output", "max_steps")

    def __init__(self, *, max_output: int, max_steps: int, max_depth: int) -> None:
        self.max_output = max_output
        self.max_steps = max_steps
        self.max_depth = max_depth


_ARITY: dict[Callable[..., Any], tuple[int, int | None]] = {}


def _arity(function: Callable[..., Any]) -> tuple[int, int | None]:
    """(fewest, most or None) positional arguments `function` takes."""
    if function not in _ARITY:
        low, high = 0, 0
        variadic = False
        for param in inspect.signature(function).parameters.values():
            if param.kind is param.VAR_POSITIONAL:
                variadic = True
            elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                high += 1
                if param.default is param.empty:
                    low += 1
        _ARITY[function] = (low, None if variadic else high)
    return _ARITY[function]


def _snippet(src: str) -> str:
    text = " ".join(src.split())
    return text if len(text) <= 60 else text[:57] + "..."


class _Executor:
    def __init__(
        self,
        *,
        name: str,
        source: str,
        defines: Mapping[str, tuple[Node, ...]],
        funcs: Mapping[str, Callable[..., Any]],
        data: Any,
        missing_key_error: bool,
        limits: Limits,
    ) -> None:
        self.name = name
        self.source = source
        self.defines = defines
        self.funcs = funcs
        self.missing_key_error = missing_key_error
        self.limits = limits
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.depth = 0
        self.vars: list[list[Any]] = [["$", data]]

    # -- bookkeeping ---------------------------------------------------------------------
    def fail(self, pos: int, message: str, src: str | None = None) -> TemplateError:
        where = f"at <{_snippet(src)}>: " if src else ""
        return template_error(self.name, self.source, pos, where + message)

    def step(self, pos: int) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise self.fail(
                pos, f"over the limit of {self.limits.max_steps} evaluation steps; simplify it"
            )

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.fail(pos, f"nesting deeper than the limit of {self.limits.max_depth} levels")

    def write(self, text: str, pos: int) -> None:
        self.size += len(text) if text.isascii() else len(text.encode())
        if self.size > self.limits.max_output:
            raise self.fail(pos, f"output over the limit of {self.limits.max_output} bytes")
        self.out.append(text)

    def var(self, name: str) -> list[Any]:
        for entry in reversed(self.vars):
            if entry[0] == name:
                found: list[Any] = entry
                return found
        raise AssertionError(f"the parser admitted undefined variable {name}")

    # -- walking -------------------------------------------------------------------------
    def walk(self, nodes: Sequence[Node], dot: Any) -> None:
        for node in nodes:
            self.walk_node(node, dot)

    def walk_node(self, node: Node, dot: Any) -> None:
        if isinstance(node, Text):
            self.step(node.pos)
            self.write(node.text, node.pos)
        elif isinstance(node, Action):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                try:
                    self.write(format_value(value), node.pos)
                except FunctionError as error:
                    raise self.fail(node.pos, str(error)) from None
        elif isinstance(node, If | With):
            self.walk_if_or_with(node, dot)
        elif isinstance(node, Range):
            self.walk_range(node, dot)
        elif isinstance(node, TemplateCall):
            self.walk_template(node, dot)
        elif isinstance(node, Break):
            raise _Break
        elif isinstance(node, Continue):
            raise _Continue

    def walk_if_or_with(self, node: If | With, dot: Any) -> None:
        self.enter(node.pos)
        mark = len(self.vars)
        try:  # `break` and `continue` leave through here as exceptions
            value = self.pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(node.body, value if isinstance(node, With) else dot)
            else:
                self.walk(node.else_body, dot)
        finally:
            del self.vars[mark:]
            self.depth -= 1

    def walk_range(self, node: Range, dot: Any) -> None:
        self.enter(node.pos)
        mark = len(self.vars)
        try:
            self.range_over(node, dot)
        finally:
            del self.vars[mark:]
            self.depth -= 1

    def range_over(self, node: Range, dot: Any) -> None:
        value = self.pipeline(dot, node.pipe)
        pairs: Any
        if value is None or value is MISSING:
            pairs = ()
        elif is_list(value):
            pairs = enumerate(value)
        elif isinstance(value, Mapping):
            pairs = ((key, value[key]) for key in sorted(value, key=_key_order))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = ((number, number) for number in range(max(value, 0)))
        else:
            raise self.fail(
                node.pos, f"range can't iterate over {format_value(value, top=False)[:60]}"
            )
        decl = node.pipe.decl
        ran = False
        for key, element in pairs:
            self.step(node.pos)
            ran = True
            if decl:
                targets = [self.var(name) for name in decl]
                targets[-1][1] = element
                if len(targets) == 2:
                    targets[0][1] = key
            iteration_mark = len(self.vars)
            try:
                self.walk(node.body, element)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                del self.vars[iteration_mark:]
        if not ran:
            self.walk(node.else_body, dot)

    def walk_template(self, node: TemplateCall, dot: Any) -> None:
        body = self.defines.get(node.name)
        if body is None:
            raise self.fail(node.pos, f'no template "{node.name}" defined in this template')
        new_dot = MISSING if node.pipe is None else self.pipeline(dot, node.pipe)
        self.enter(node.pos)
        saved, self.vars = self.vars, [["$", new_dot]]
        try:
            self.walk(body, new_dot)
        finally:
            self.vars = saved
            self.depth -= 1

    # -- evaluation ----------------------------------------------------------------------
    def pipeline(self, dot: Any, pipe: Pipe) -> Any:
        value = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.var(name)[1] = value
            else:
                self.vars.append([name, value])
        return value

    def command(self, dot: Any, cmd: Command, final: Any) -> Any:
        self.step(cmd.pos)
        first = cmd.args[0]
        if isinstance(first, Func):
            return self.call(dot, first.name, cmd.args[1:], final, cmd.pos, cmd.src)
        if len(cmd.args) > 1 or final is not _NO_FINAL:
            raise self.fail(
                cmd.pos, f"can't give argument to non-function {_snippet(_src(first))}", cmd.src
            )
        if isinstance(first, Nil):
            raise self.fail(cmd.pos, "nil is not a command", cmd.src)
        return self.operand(dot, first)

    def operand(self, dot: Any, node: Operand) -> Any:
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Nil):
            return None
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Func):
            return self.call(dot, node.name, (), _NO_FINAL, node.pos, node.name)
        if isinstance(node, Field):
            return self.fields(dot, node.names, node.pos, node.src)
        if isinstance(node, Var):
            return self.fields(self.var(node.name)[1], node.names, node.pos, node.src)
        self.enter(node.pos)
        try:
            value = self.pipeline(dot, node.pipe)
        finally:
            self.depth -= 1
        return self.fields(value, node.names, node.pos, node.src)

    def fields(self, receiver: Any, names: Sequence[str], pos: int, src: str) -> Any:
        value = receiver
        for name in names:
            if value is MISSING:
                if self.missing_key_error:
                    raise self.fail(pos, f'nil data; no entry for key "{name}"', src)
                return MISSING
            if value is None:
                raise self.fail(pos, f"can't evaluate field {name} of a nil value", src)
            if not isinstance(value, Mapping):
                raise self.fail(
                    pos, f"can't evaluate field {name} in type {go_type_name(value)}", src
                )
            if name in value:
                value = value[name]
            elif self.missing_key_error:
                raise self.fail(pos, f'map has no entry for key "{name}"', src)
            else:
                value = MISSING
        return value

    def call(
        self, dot: Any, name: str, arg_nodes: Sequence[Operand], final: Any, pos: int, src: str
    ) -> Any:
        if name in LAZY:
            return self.lazy(dot, name, arg_nodes, final, pos, src)
        function = self.funcs[name]
        args = [self.operand(dot, node) for node in arg_nodes]
        if final is not _NO_FINAL:
            args.append(final)
        low, high = _arity(function)
        if len(args) < low or (high is not None and len(args) > high):
            want = f"at least {low}" if high is None else f"{low}-{high}"
            want = f"{low}" if high == low else want
            message = f"wrong number of args for {name}: want {want} got {len(args)}"
            raise self.fail(pos, message, src)
        args = [None if arg is MISSING else arg for arg in args]
        self.check_args(args, name, pos, src)
        try:
            result = function(*args)
        except TemplateError:
            raise
        except RecursionError:
            raise self.fail(pos, f"error calling {name}: value nested too deeply", src) from None
        except Exception as error:  # a function's failure, or a callable's given to `call`
            raise self.fail(pos, f"error calling {name}: {error}", src) from None
        if isinstance(result, str) and len(result) > self.limits.max_output:
            raise self.fail(
                pos, f"{name} built a string over the limit of {self.limits.max_output} bytes", src
            )
        return result

    def check_args(self, args: list[Any], name: str, pos: int, src: str) -> None:
        """Hold what a function may concatenate (strings, also inside lists) to the limit."""
        size = 0
        for arg in args:
            if isinstance(arg, str):
                size += len(arg)
            elif is_list(arg):
                size += sum(len(item) for item in arg if isinstance(item, str))
        if size > self.limits.max_output:
            raise self.fail(
                pos, f"arguments of {name} over the limit of {self.limits.max_output} bytes", src
            )

    def lazy(
        self, dot: Any, name: str, arg_nodes: Sequence[Operand], final: Any, pos: int, src: str
    ) -> Any:
        count = len(arg_nodes) + (final is not _NO_FINAL)
        if count == 0:
            raise self.fail(pos, f"wrong number of args for {name}: want at least 1 got 0", src)
        value: Any = MISSING
        for node in arg_nodes:
            value = self.operand(dot, node)
            if is_true(value) == (name == "or"):
                return value
        return final if final is not _NO_FINAL else value


def _src(node: Operand) -> str:
    if isinstance(node, Field | Var | PipeExpr):
        return node.src
    if isinstance(node, Literal):
        return format_value(node.value, top=False)
    if isinstance(node, Func):
        return node.name
    return "." if isinstance(node, Dot) else "nil"


def _key_order(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, str) else (1, str(key))


def execute_tree(
    *,
    name: str,
    source: str,
    root: tuple[Node, ...],
    defines: Mapping[str, tuple[Node, ...]],
    funcs: Mapping[str, Callable[..., Any]],
    data: Any,
    missing_key_error: bool,
    limits: Limits,
) -> str:
    """The output of `root` over `data`, or a `TemplateError`."""
    executor = _Executor(
        name=name,
        source=source,
        defines=defines,
        funcs=funcs,
        data=data,
        missing_key_error=missing_key_error,
        limits=limits,
    )
    token = BUILD_LIMIT.set(limits.max_output)
    try:
        executor.walk(root, data)
    except RecursionError:
        raise TemplateError(f"template {name}: nested too deeply to evaluate") from None
    finally:
        BUILD_LIMIT.reset(token)
    return "".join(executor.out)
