"""Argo's `successCondition` / `failureCondition` expressions, evaluated safely.

Argo Rollouts writes conditions in the expr language (expr-lang/expr) over one variable,
`result`: what the metric provider measured. Examples from Argo's documentation, all
supported::

    result[0] >= 0.95                  # a Prometheus vector: a list of floats
    len(result) == 0 || result[0] < 5  # treat "no data" as success, explicitly
    isNaN(result)                      # a Prometheus scalar that is NaN
    default(result, 0) > 3             # nil result -> 0
    asInt(result) == 1                 # web JSON strings -> numbers
    result == true                     # a web check answering true
    result.ok && result.successPercent >= 0.90   # web JSON objects
    all(result, # < 1000)              # every value of a vector ({# < 1000} also works)

This is our own tokenizer (`expr_lexer`), parser (`expr_parser`) and the tree walker
below; user text is never given to Python's `eval`. Only dictionary keys are reachable
(`result.key` reads `result["key"]`), never attributes of Python objects. Work is bounded:
conditions of at most 2,000 characters, trees at most 100 deep, at most 100,000 steps,
and at most 16 MiB of new strings and arrays per evaluation (`analysis.expr_values.Budget`:
a slice, `map`, `filter`, an array literal or `+` is charged for what it builds).

Every problem is a `ConditionError(message, position)`: syntax (``unexpected ')' at
column 14``), unknown names or functions, type errors (``invalid operation: < (mismatched
types array and int)``), an index out of range, a final value that is not a bool. The
analysis run-state machine (`analysis.decide`) turns it into a measurement with phase
Error: missing data never passes a condition by accident.

Where we differ from expr/Argo, on purpose:

- `default(x, d)` and `isNil(x)` look at their argument, and a missing value in it (an
  index out of range, a field of nil) counts as nil. Argo's ignore the argument and
  test the whole `result`; both agree for `default(result, d)` and `isNil(result)`.
- `==` between different types is false, never an error (expr's run-time behaviour);
  ordering (`<`...) and arithmetic across types are errors. Numbers compare by value
  (`1 == 1.0`), and `true == 1` is false.
- Not supported (each a clear error): `matches` (a regular expression could run
  unbounded), ranges `a..b`, map literals, pipes, `let`, method calls, and expr's
  builtins beyond those listed in `analysis.expr_functions`.

Public API: `compile_condition(text) -> Condition` (parse once, then
`Condition.evaluate(result)` many times) and `evaluate(text, result) -> bool`.

Other callers (the notification triggers of `rollouts.notifications`) compile with their
own variable `names` and `methods=True`, and evaluate with `Condition.evaluate_in(env)`
(a bool) or `Condition.value_in(env)` (any value: a trigger's `oncePer`); method calls
reach only the Go time values of `analysis.expr_time`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from analysis.expr_functions import FUNCTIONS, FunctionKind, call_plain, call_predicate
from analysis.expr_lexer import ConditionError
from analysis.expr_parser import (
    RESULT_ONLY,
    ArrayLiteral,
    Binary,
    Call,
    Conditional,
    Index,
    Literal,
    Logical,
    Member,
    MethodCall,
    Name,
    Node,
    Pointer,
    Slice,
    Unary,
    parse,
)
from analysis.expr_time import call_method
from analysis.expr_values import (
    Budget,
    Missing,
    arithmetic,
    as_array,
    compare,
    contains,
    describe,
    equal,
    is_number,
    membership,
    type_name,
)

__all__ = ["Condition", "ConditionError", "compile_condition", "evaluate"]


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition; `evaluate(result)` runs it against one measurement."""

    expression: str
    tree: Node

    def evaluate(self, result: object) -> bool:
        """True or False; `ConditionError` if it cannot be evaluated or is not a bool."""
        return _as_bool(self._run(result, None))

    def evaluate_in(self, env: Mapping[str, object]) -> bool:
        """True or False with the variables of `env` (each name given to `compile_condition`)."""
        return _as_bool(self._run(None, env))

    def value_in(self, env: Mapping[str, object]) -> object:
        """The expression's value (any type) with the variables of `env`."""
        return self._run(None, env)

    def _run(self, result: object, env: Mapping[str, object] | None) -> object:
        try:
            return _Walker(result, env).eval(self.tree, None)
        except RecursionError:  # a `result` nested thousands deep; the tree itself is bounded
            raise ConditionError("result is nested too deeply to evaluate", None) from None


def _as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"condition must be true or false, got {describe(value)}", None)
    return value


@lru_cache(maxsize=512)
def compile_condition(expression: str, names: frozenset[str] = RESULT_ONLY,
                      methods: bool = False) -> Condition:
    """Parse `expression` once (cached); `ConditionError` if it is not a valid condition.

    `names`: the variables it may read (default: `result`); `methods`: whether the Go time
    methods of `analysis.expr_time` may be called."""
    return Condition(expression, parse(expression, names=names, methods=methods))


def evaluate(expression: str, result: object) -> bool:
    """Evaluate the condition `expression` with `result` bound to the measured value."""
    return compile_condition(expression).evaluate(result)


class _Walker:
    """Evaluates one tree for one `result`, spending from one `Budget`."""

    __slots__ = ("budget", "env", "result")

    def __init__(self, result: object, env: Mapping[str, object] | None = None) -> None:
        self.result = result
        self.env = env
        self.budget = Budget()

    def eval(self, node: Node, element: object) -> object:
        """The value of `node`; `element` is what `#` stands for inside a predicate."""
        self.budget.spend(1, node.position)
        handler = _HANDLERS[type(node)]
        return handler(self, node, element)

    def literal(self, node: Node, element: object) -> object:
        assert isinstance(node, Literal)
        return node.value

    def name(self, node: Node, element: object) -> object:
        if self.env is None:
            return self.result
        assert isinstance(node, Name)
        return self.env.get(node.name)

    def method_call(self, node: Node, element: object) -> object:
        assert isinstance(node, MethodCall)
        target = self.eval(node.target, element)
        args = [self.eval(arg, element) for arg in node.args]
        return call_method(target, node.method, args, node.position)

    def pointer(self, node: Node, element: object) -> object:
        return element

    def array(self, node: Node, element: object) -> object:
        assert isinstance(node, ArrayLiteral)
        return self.budget.build([self.eval(item, element) for item in node.items],
                                 node.position)

    def unary(self, node: Node, element: object) -> object:
        assert isinstance(node, Unary)
        value = self.eval(node.operand, element)
        if node.op == "!":
            if not isinstance(value, bool):
                raise ConditionError(f"invalid operation: ! on {type_name(value)}", node.position)
            return not value
        if not is_number(value):
            raise ConditionError(
                f"invalid operation: {node.op} on {type_name(value)}", node.position
            )
        assert isinstance(value, int | float)
        return -value if node.op == "-" else value

    def logical(self, node: Node, element: object) -> object:
        assert isinstance(node, Logical)
        stop_at = node.op == "||"  # `||` stops at the first true, `&&` at the first false
        for operand in node.operands:
            value = self.eval(operand, element)
            if not isinstance(value, bool):
                raise ConditionError(
                    f"invalid operation: {node.op} on {type_name(value)} (it needs true or "
                    "false on both sides)",
                    operand.position,
                )
            if value is stop_at:
                return value
        return not stop_at

    def binary(self, node: Node, element: object) -> object:
        assert isinstance(node, Binary)
        op, position = node.op, node.position
        if op == "??":
            left = self.absent_as_nil(node.left, element)
            return self.eval(node.right, element) if left is None else left
        left = self.eval(node.left, element)
        right = self.eval(node.right, element)
        if op == "==":
            return equal(left, right, self.budget)
        if op == "!=":
            return not equal(left, right, self.budget)
        if op in ("<", "<=", ">", ">="):
            return compare(op, left, right, position, self.budget)
        if op == "in":
            return membership(left, right, self.budget, position)
        if op == "not in":
            return not membership(left, right, self.budget, position)
        if op in ("contains", "startsWith", "endsWith"):
            return contains(op, left, right, position, self.budget)
        return arithmetic(op, left, right, position, self.budget)

    def conditional(self, node: Node, element: object) -> object:
        assert isinstance(node, Conditional)
        test = self.eval(node.test, element)
        if not isinstance(test, bool):
            raise ConditionError(
                f"the test of ?: must be true or false, got {type_name(test)}", node.position
            )
        return self.eval(node.then if test else node.otherwise, element)

    def member(self, node: Node, element: object) -> object:
        assert isinstance(node, Member)
        target = self.eval(node.target, element)
        if target is None:
            if node.optional:
                return None
            raise Missing(f"cannot fetch {node.name} from nil", node.position)
        if isinstance(target, Mapping):
            return target.get(node.name)
        raise ConditionError(
            f"cannot fetch {node.name} from {type_name(target)} (only maps have fields)",
            node.position,
        )

    def index(self, node: Node, element: object) -> object:
        assert isinstance(node, Index)
        target = self.eval(node.target, element)
        key = self.eval(node.index, element)
        if target is None:
            if node.optional:
                return None
            raise Missing(f"cannot fetch [{describe(key)}] from nil", node.position)
        if isinstance(target, Mapping):
            if not isinstance(key, str):
                raise ConditionError(
                    f"cannot use {type_name(key)} as a map key (keys are strings)", node.position
                )
            return target.get(key)
        items = as_array(target)
        if items is None and not isinstance(target, str):
            raise ConditionError(f"cannot index {type_name(target)}", node.position)
        sequence = items if items is not None else target
        assert isinstance(sequence, list | tuple | str)
        if not isinstance(key, int) or isinstance(key, bool):
            raise ConditionError(f"index must be an integer, got {type_name(key)}", node.position)
        at = key + len(sequence) if key < 0 else key  # expr: a[-1] is the last item
        if not 0 <= at < len(sequence):
            raise Missing(
                f"index out of range: {describe(key)} (array length is {len(sequence)})",
                node.position,
            )
        return sequence[at]

    def slice(self, node: Node, element: object) -> object:
        assert isinstance(node, Slice)
        target = self.eval(node.target, element)
        bounds: list[int | None] = []
        for bound in (node.lower, node.upper):
            value = None if bound is None else self.eval(bound, element)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConditionError(
                    f"slice bounds must be integers, got {type_name(value)}", node.position
                )
            bounds.append(value)
        if isinstance(target, list | tuple):
            self.budget.spend(len(target), node.position)
            return self.budget.build(list(target[bounds[0] : bounds[1]]), node.position)
        if isinstance(target, str):
            # Charged after the copy: one copy is at most the size of `result` itself.
            return self.budget.build(target[bounds[0] : bounds[1]], node.position)
        raise ConditionError(f"cannot slice {type_name(target)}", node.position)

    def call(self, node: Node, element: object) -> object:
        assert isinstance(node, Call)
        spec = FUNCTIONS[node.function]
        if spec.kind is FunctionKind.LAZY:
            value = self.absent_as_nil(node.args[0], element)
            if node.function == "isNil":
                return value is None
            return self.eval(node.args[1], element) if value is None else value
        if spec.kind is FunctionKind.PREDICATE:
            items = self.eval(node.args[0], element)
            body = node.args[1]
            predicate: Callable[[object], object] = lambda item: self.eval(body, item)  # noqa: E731
            return call_predicate(node.function, items, predicate, self.budget, node.position)
        args = [self.eval(arg, element) for arg in node.args]
        return call_plain(node.function, args, self.budget, node.position)

    def absent_as_nil(self, node: Node, element: object) -> object:
        """The value of `node`, or None where it is missing (`default`, `isNil`, `??`)."""
        try:
            return self.eval(node, element)
        except Missing:
            return None


_HANDLERS: dict[type[Node], Callable[[_Walker, Node, object], object]] = {
    Literal: _Walker.literal,
    Name: _Walker.name,
    Pointer: _Walker.pointer,
    ArrayLiteral: _Walker.array,
    Unary: _Walker.unary,
    Logical: _Walker.logical,
    Binary: _Walker.binary,
    Conditional: _Walker.conditional,
    Member: _Walker.member,
    Index: _Walker.index,
    Slice: _Walker.slice,
    Call: _Walker.call,
    MethodCall: _Walker.method_call,
}
