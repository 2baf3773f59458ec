"""Parse a condition into a tree of `Node`s: a Pratt parser over `analysis.expr_lexer`.

Grammar and precedence follow expr-lang (loosest first)::

    a ? b : c                      conditional
    ||  or                         10
    &&  and                        15
    == != < <= > >= in, not in,    20
    contains startsWith endsWith
    + -                            30
    ! not (prefix)                 50
    * / %                          60
    - + (prefix)                   90
    ** ^ (right-associative)       100
    ??                             500
    a.b  a?.b  a[i]  a[i:j]  f(x)  postfix

Names: `result`, `true`, `false`, `nil`, and the functions of
`analysis.expr_functions.FUNCTIONS`. A caller with other variables (the notification
triggers' `app`, `rollout`, `time`) passes their `names`; with `methods=True`,
`value.Name(args)` parses as a `MethodCall`, which the evaluator answers only for the
value types of `analysis.expr_time` (`time.Now()`, `t.Before(u)`, `d.Minutes()`), never
for Python attributes. Analysis conditions keep both off. Inside a predicate
(`all(result, {# > 0.9})`, braces optional) `#` is the element and `.field` is
`#.field`. Unknown names and functions, wrong argument counts and unsupported syntax are
found here, before any evaluation.

Bounds: at most `MAX_LENGTH` characters and a tree at most `MAX_DEPTH` deep (chains of
`&&`/`||` are flat), so evaluation recursion stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.expr_functions import FUNCTIONS, FunctionKind
from analysis.expr_lexer import ConditionError, Token, TokenKind, tokenize

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "RESULT_ONLY",
    "ArrayLiteral",
    "Binary",
    "Call",
    "Conditional",
    "Index",
    "Literal",
    "Logical",
    "Member",
    "MethodCall",
    "Name",
    "Node",
    "Pointer",
    "Slice",
    "Unary",
    "parse",
]

MAX_LENGTH = 2000
MAX_DEPTH = 100

_BINARY = {
    "||": 10, "&&": 15,
    "==": 20, "!=": 20, "<": 20, "<=": 20, ">": 20, ">=": 20,
    "in": 20, "not in": 20, "contains": 20, "startsWith": 20, "endsWith": 20,
    "+": 30, "-": 30, "*": 60, "/": 60, "%": 60, "**": 100, "??": 500,
}  # fmt: skip
_RIGHT_ASSOCIATIVE = frozenset({"**"})
_SPELLINGS = {"and": "&&", "or": "||", "not": "!", "^": "**"}
_WORD_OPERATORS = frozenset({"and", "or", "in", "contains", "startsWith", "endsWith"})
_UNARY = {"!": 50, "-": 90, "+": 90}
_CONSTANTS: dict[str, object] = {"true": True, "false": False, "nil": None}
_UNSUPPORTED = {
    "matches": "the 'matches' operator is not supported (a regular expression could run "
    "unbounded); use contains, startsWith or endsWith",
}


@dataclass(frozen=True, slots=True)
class Node:
    position: int
    """1-based column of the node's operator or first token."""
    depth: int = field(default=1, init=False, compare=False)

    def _children(self) -> tuple[Node | None, ...]:
        return ()

    def __post_init__(self) -> None:
        children = [child.depth for child in self._children() if child is not None]
        depth = 1 + max(children, default=0)
        if depth > MAX_DEPTH:
            raise ConditionError(f"condition is nested too deeply (limit {MAX_DEPTH})", None)
        object.__setattr__(self, "depth", depth)


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal(Node):
    value: object


@dataclass(frozen=True, slots=True, kw_only=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Pointer(Node):
    """`#`: the element a predicate is looking at."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayLiteral(Node):
    items: tuple[Node, ...]

    def _children(self) -> tuple[Node | None, ...]:
        return self.items


@dataclass(frozen=True, slots=True, kw_only=True)
class Unary(Node):
    op: str
    operand: Node

    def _children(self) -> tuple[Node | None, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def _children(self) -> tuple[Node | None, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True, kw_only=True)
class Logical(Node):
    """`a && b && c` (op `&&`) or `a || b || c` (op `||`), evaluated left to right."""

    op: str
    operands: tuple[Node, ...]

    def _children(self) -> tuple[Node | None, ...]:
        return self.operands


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditional(Node):
    test: Node
    then: Node
    otherwise: Node

    def _children(self) -> tuple[Node | None, ...]:
        return (self.test, self.then, self.otherwise)


@dataclass(frozen=True, slots=True, kw_only=True)
class Member(Node):
    target: Node
    name: str
    optional: bool = False

    def _children(self) -> tuple[Node | None, ...]:
        return (self.target,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Index(Node):
    target: Node
    index: Node
    optional: bool = False

    def _children(self) -> tuple[Node | None, ...]:
        return (self.target, self.index)


@dataclass(frozen=True, slots=True, kw_only=True)
class Slice(Node):
    target: Node
    lower: Node | None = None
    upper: Node | None = None

    def _children(self) -> tuple[Node | None, ...]:
        return (self.target, self.lower, self.upper)


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodCall(Node):
    """`target.method(args)`: only with `parse(..., methods=True)`."""

    target: Node
    method: str
    args: tuple[Node, ...]

    def _children(self) -> tuple[Node | None, ...]:
        return (self.target, *self.args)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]

    def _children(self) -> tuple[Node | None, ...]:
        return self.args


RESULT_ONLY = frozenset({"result"})


def parse(text: str, *, names: frozenset[str] = RESULT_ONLY, methods: bool = False) -> Node:
    """The tree of `text`; `ConditionError` says what is wrong and at which column.

    `names` are the variables the expression may read (an analysis condition: `result`);
    `methods` allows `value.Method(args)` calls (see the module docstring)."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(
            f"condition is {len(text)} characters long; the limit is {MAX_LENGTH}", None
        )
    if not text.strip():
        raise ConditionError("condition is empty: write an expression such as result[0] > 0.9")
    return _Parser(tokenize(text), names, methods).parse_all()


class _Parser:
    def __init__(self, tokens: list[Token], names: frozenset[str] = RESULT_ONLY,
                 methods: bool = False) -> None:
        self.names = names
        self.methods = methods
        self.tokens = tokens
        self.at = 0
        self.closures = 0  # how many predicates we are inside (where `#` is allowed)
        self.nesting = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def advance(self) -> Token:
        token = self.tokens[self.at]
        if token.kind is not TokenKind.END:
            self.at += 1
        return token

    def is_operator(self, text: str) -> bool:
        return self.token.kind is TokenKind.OPERATOR and self.token.text == text

    def expect(self, text: str) -> Token:
        if not self.is_operator(text):
            raise self.unexpected(f"expected '{text}'")
        return self.advance()

    def unexpected(self, hint: str = "") -> ConditionError:
        token = self.token
        reason = _UNSUPPORTED.get(token.text) if token.kind is not TokenKind.END else None
        if reason is not None:
            return ConditionError(reason, token.position)
        message = f"unexpected {token.describe()}"
        return ConditionError(f"{message} ({hint})" if hint else message, token.position)

    def parse_all(self) -> Node:
        node = self.expression(0)
        if self.token.kind is not TokenKind.END:
            raise self.unexpected()
        return node

    def expression(self, min_precedence: int) -> Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ConditionError(f"condition is nested too deeply (limit {MAX_DEPTH})", None)
        left = self.unary()
        while True:
            op = self.binary_operator()
            if op is None or _BINARY[op] < min_precedence:
                break
            position = self.token.position
            self.advance()
            if op == "not in":
                self.advance()
            precedence = _BINARY[op]
            right = self.expression(precedence if op in _RIGHT_ASSOCIATIVE else precedence + 1)
            left = _combine(op, left, right, position)
        if min_precedence == 0 and self.is_operator("?"):
            position = self.advance().position
            then = self.expression(0)
            self.expect(":")
            otherwise = self.expression(0)
            left = Conditional(position, test=left, then=then, otherwise=otherwise)
        self.nesting -= 1
        return left

    def binary_operator(self) -> str | None:
        token = self.token
        if token.kind is TokenKind.OPERATOR:
            op = _SPELLINGS.get(token.text, token.text)
            return op if op in _BINARY else None
        if token.kind is TokenKind.NAME:
            if token.text in _WORD_OPERATORS:
                return _SPELLINGS.get(token.text, token.text)
            following = self.tokens[self.at + 1]
            if token.text == "not" and following.kind is TokenKind.NAME and following.text == "in":
                return "not in"
        return None

    def unary(self) -> Node:
        token = self.token
        op = None
        if token.kind is TokenKind.OPERATOR and token.text in _UNARY:
            op = token.text
        elif token.kind is TokenKind.NAME and token.text == "not":
            op = "!"
        if op is None:
            return self.postfix(self.primary())
        self.advance()
        operand = self.expression(_UNARY[op])
        return Unary(token.position, op=op, operand=operand)

    def primary(self) -> Node:
        token = self.token
        if token.kind in (TokenKind.NUMBER, TokenKind.STRING):
            self.advance()
            return Literal(token.position, value=token.value)
        if token.kind is TokenKind.NAME:
            return self.name()
        if self.is_operator("("):
            self.advance()
            node = self.expression(0)
            self.expect(")")
            return node
        if self.is_operator("["):
            return self.array()
        if self.is_operator("#") or self.is_operator("."):
            if token.text == "." and self.tokens[self.at + 1].kind is TokenKind.NUMBER:
                hint = "write numbers with a leading digit (0.5, not .5)"
                raise ConditionError(hint, token.position)
            if not self.closures:
                raise ConditionError(
                    f"'{token.text}' is only allowed inside a predicate, as in "
                    "all(result, # > 0.9)",
                    token.position,
                )
            self.advance()
            pointer = Pointer(token.position)
            if token.text == "#":
                return pointer
            name = self.advance()
            if name.kind is not TokenKind.NAME:
                got = name.describe()
                raise ConditionError(f"expected a field name after '.', got {got}", name.position)
            return Member(token.position, target=pointer, name=name.text)
        raise self.unexpected()

    def name(self) -> Node:
        token = self.advance()
        if token.text in _CONSTANTS:
            return Literal(token.position, value=_CONSTANTS[token.text])
        calls = self.is_operator("(")
        if token.text in self.names:
            if calls:
                raise ConditionError(f"{token.text} is not a function", token.position)
            return Name(token.position, name=token.text)
        if token.text in FUNCTIONS:
            if not calls:
                raise ConditionError(
                    f"{token.text} is a function: call it, as in {token.text}(result)",
                    token.position,
                )
            return self.call(token)
        if token.text in _UNSUPPORTED:
            raise ConditionError(_UNSUPPORTED[token.text], token.position)
        if calls:
            raise ConditionError(
                f"unknown function {token.text} (known: {', '.join(sorted(FUNCTIONS))})",
                token.position,
            )
        if self.names == RESULT_ONLY:
            raise ConditionError(
                f"unknown name {token.text} (the measured value is called result)",
                token.position,
            )
        raise ConditionError(
            f"unknown name {token.text} (known: {', '.join(sorted(self.names))})",
            token.position,
        )

    def call(self, token: Token) -> Node:
        spec = FUNCTIONS[token.text]
        self.expect("(")
        args: list[Node] = []
        while not self.is_operator(")"):
            if args:
                self.expect(",")
                if self.is_operator(")"):
                    break
            if spec.kind is FunctionKind.PREDICATE and len(args) == 1:
                args.append(self.predicate())
            else:
                args.append(self.expression(0))
        self.expect(")")
        problem = spec.arity_error(len(args))
        if problem is not None:
            raise ConditionError(problem, token.position)
        return Call(token.position, function=token.text, args=tuple(args))

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        while not self.is_operator(")"):
            if args:
                self.expect(",")
            args.append(self.expression(0))
        self.expect(")")
        return tuple(args)

    def predicate(self) -> Node:
        self.closures += 1
        if self.is_operator("{"):
            self.advance()
            body = self.expression(0)
            self.expect("}")
        else:
            body = self.expression(0)
        self.closures -= 1
        return body

    def array(self) -> Node:
        position = self.expect("[").position
        items: list[Node] = []
        while not self.is_operator("]"):
            if items:
                self.expect(",")
                if self.is_operator("]"):
                    break
            items.append(self.expression(0))
        self.expect("]")
        return ArrayLiteral(position, items=tuple(items))

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.token
            if self.is_operator(".") or self.is_operator("?."):
                self.advance()
                optional = token.text == "?."
                if optional and self.is_operator("["):
                    node = self.index(node, optional=True)
                    continue
                name = self.advance()
                if name.kind is not TokenKind.NAME:
                    raise ConditionError(
                        f"expected a field name after '{token.text}', got {name.describe()}",
                        name.position,
                    )
                if self.is_operator("(") and self.methods and not optional:
                    node = MethodCall(name.position, target=node, method=name.text,
                                      args=self.arguments())
                    continue
                if self.is_operator("("):
                    raise ConditionError(
                        f"cannot call {name.text}(): conditions have no methods, only "
                        "functions such as len(result)",
                        name.position,
                    )
                node = Member(token.position, target=node, name=name.text, optional=optional)
            elif self.is_operator("["):
                node = self.index(node, optional=False)
            elif self.is_operator("("):
                raise ConditionError("only named functions can be called", token.position)
            else:
                return node

    def index(self, target: Node, *, optional: bool) -> Node:
        position = self.expect("[").position
        lower = None if self.is_operator(":") else self.expression(0)
        if self.is_operator(":"):
            self.advance()
            upper = None if self.is_operator("]") else self.expression(0)
            self.expect("]")
            return Slice(position, target=target, lower=lower, upper=upper)
        self.expect("]")
        assert lower is not None
        return Index(position, target=target, index=lower, optional=optional)


def _combine(op: str, left: Node, right: Node, position: int) -> Node:
    if op in ("&&", "||"):
        if isinstance(left, Logical) and left.op == op:
            return Logical(left.position, op=op, operands=(*left.operands, right))
        return Logical(position, op=op, operands=(left, right))
    return Binary(position, op=op, left=left, right=right)
