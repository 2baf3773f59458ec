"""Tokens of Argo's condition language (a subset of expr-lang), and its one error type.

`tokenize(text)` turns a condition such as ``len(result) == 0 || result[0] < 5`` into
`Token`s for `analysis.expr_parser`. Nothing here evaluates anything. Every problem, here
or in the parser and evaluator, is a `ConditionError` carrying the 1-based column it is
about, so a user reads ``unexpected ')' at column 14``.

Accepted: ASCII identifiers and keywords (`and`, `or`, `not`, `in`, `true`, `false`,
`nil`, ...), decimal integers and floats (`1_000`, `0.95`, `1e3`), strings in single,
double or back quotes (Go escapes in the first two), the operators of `OPERATORS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["MAX_INT", "OPERATORS", "ConditionError", "Token", "TokenKind", "tokenize"]

MAX_INT = 2**63 - 1
"""expr runs on Go's int64; integers beyond it are an error, not a slow bignum."""

# Longest first, so `**` wins over `*` and `?.` over `?`.
OPERATORS = (
    "?.", "??", "**", "==", "!=", "<=", ">=", "&&", "||",
    "<", ">", "!", "+", "-", "*", "/", "%", "^",
    "?", ":", "(", ")", "[", "]", "{", "}", ",", ".", "#",
)  # fmt: skip

_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"',
    "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
}  # fmt: skip
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_PART = _IDENT_START | _DIGITS


class ConditionError(Exception):
    """A condition that cannot be parsed or evaluated, with what went wrong and where.

    `message` is the bare reason, `position` the 1-based column of the offending part of
    the expression (None when the problem is the whole expression); `str()` joins both.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} at column {position}" if position else message)


class TokenKind(Enum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    OPERATOR = "operator"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    """The operator or name as written; for literals, the source text."""
    value: object
    """The literal's value (int, float or str); None for other tokens."""
    position: int
    """1-based column where the token starts."""

    def describe(self) -> str:
        """How an error message names this token: `')'`, `'result'`, `end of expression`."""
        return self.kind.value if self.kind is TokenKind.END else f"'{self.text}'"


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an END token; `ConditionError` on a bad character."""
    tokens: list[Token] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in " \t\r\n":
            index += 1
        elif char in _DIGITS:
            token, index = _number(text, index)
            tokens.append(token)
        elif char in _IDENT_START:
            end = index + 1
            while end < length and text[end] in _IDENT_PART:
                end += 1
            tokens.append(Token(TokenKind.NAME, text[index:end], None, index + 1))
            index = end
        elif char in "'\"`":
            token, index = _string(text, index)
            tokens.append(token)
        else:
            operator = next((op for op in OPERATORS if text.startswith(op, index)), None)
            if operator is None:
                raise ConditionError(f"unexpected character {char!r}", index + 1)
            tokens.append(Token(TokenKind.OPERATOR, operator, None, index + 1))
            index += len(operator)
    tokens.append(Token(TokenKind.END, "", None, length + 1))
    return tokens


def _number(text: str, start: int) -> tuple[Token, int]:
    index = _digits(text, start)
    is_float = False
    # `1.5` is a float; `1.x` or `1..2` are not (the dot belongs to what follows).
    if text[index : index + 1] == "." and text[index + 1 : index + 2] in _DIGITS:
        index = _digits(text, index + 1)
        is_float = True
    if text[index : index + 1] in ("e", "E"):
        exponent = index + 1
        if text[exponent : exponent + 1] in ("+", "-"):
            exponent += 1
        if text[exponent : exponent + 1] not in _DIGITS:
            raise ConditionError("malformed number: the exponent needs digits", start + 1)
        index = _digits(text, exponent)
        is_float = True
    if index < len(text) and text[index] in _IDENT_PART:
        raise ConditionError(f"malformed number {text[start : index + 1]!r}", start + 1)
    source = text[start:index]
    digits = source.replace("_", "")
    if is_float:
        return Token(TokenKind.NUMBER, source, float(digits), start + 1), index
    if len(digits) > 19 or int(digits) > MAX_INT:
        raise ConditionError(f"integer {source} is too large (the limit is {MAX_INT})", start + 1)
    return Token(TokenKind.NUMBER, source, int(digits), start + 1), index


def _digits(text: str, index: int) -> int:
    """The end of a run of digits (with single `_` separators between digits)."""
    while index < len(text) and (
        text[index] in _DIGITS or (text[index] == "_" and text[index + 1 : index + 2] in _DIGITS)
    ):
        index += 1
    return index


def _string(text: str, start: int) -> tuple[Token, int]:
    quote = text[start]
    index = start + 1
    parts: list[str] = []
    while True:
        if index >= len(text):
            raise ConditionError("string is not closed", start + 1)
        char = text[index]
        if char == quote:
            value = "".join(parts)
            return Token(TokenKind.STRING, text[start : index + 1], value, start + 1), index + 1
        if char == "\\" and quote != "`":
            decoded, index = _escape(text, index)
            parts.append(decoded)
            continue
        parts.append(char)
        index += 1


def _escape(text: str, index: int) -> tuple[str, int]:
    code = text[index + 1 : index + 2]
    if code in _ESCAPES:
        return _ESCAPES[code], index + 2
    width = {"x": 2, "u": 4, "U": 8}.get(code)
    if width is not None:
        hex_digits = text[index + 2 : index + 2 + width]
        if len(hex_digits) == width and all(digit in _HEX for digit in hex_digits):
            codepoint = int(hex_digits, 16)
            if codepoint <= 0x10FFFF and not 0xD800 <= codepoint <= 0xDFFF:
                return chr(codepoint), index + 2 + width
    shown = text[index : index + 2] if code else "\\"
    raise ConditionError(f"invalid escape sequence {shown!r} in string", index + 1)
