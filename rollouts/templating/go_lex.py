"""The lexer of Go's text/template: source text in, a flat list of tokens out.

Text outside actions becomes one TEXT token; an action becomes LEFT, its tokens and
RIGHT. Trim markers are applied here, as Go's lexer does: `{{- ` strips the white space
(space, tab, CR, LF) before the action, ` -}}` the white space after it. Comments
(`{{/* ... */}}`, trim markers allowed around them) vanish. Inside an action: fields
(`.a`), dot, variables (`$`, `$x`), identifiers and keywords, strings ("..." with Go
escapes, and raw `...`), character constants ('a' is the int 97), numbers (Go syntax:
`0x1f`, `1_000`, `1e3`, `-2`), `|`, `(`, `)`, `,`, `:=` and `=`. Each token records
whether white space preceded it, which the parser needs to tell `.a.b` from `.a .b`.

Positions are offsets into the source; `location` turns one into Go's line:column.
The parser (`go_parse`) is the only user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rollouts.templating.errors import TemplateError

__all__ = ["KEYWORDS", "Token", "lex", "location", "template_error"]

WHITE = " \t\r\n"
KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)

_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[oObB][0-9_]+"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)"
)
_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Token:
    """One token: `kind` is TEXT, LEFT, RIGHT, FIELD, DOT, VARIABLE, IDENT, KEYWORD,
    STRING, NUMBER, CHAR, BOOL, NIL, PIPE, LPAREN, RPAREN, COMMA, DECLARE, ASSIGN or EOF."""

    kind: str
    value: Any
    pos: int
    end: int
    space_before: bool = False


def location(source: str, pos: int) -> tuple[int, int]:
    """Go's line (from 1) and column (bytes since the line start, from 0) of `pos`."""
    line = source.count("\n", 0, pos) + 1
    line_start = source.rfind("\n", 0, pos) + 1
    return line, len(source[line_start:pos].encode())


def template_error(name: str, source: str, pos: int, message: str) -> TemplateError:
    line, col = location(source, pos)
    return TemplateError(f"template {name}:{line}:{col}: {message}")


class _Lexer:
    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name
        self.tokens: list[Token] = []

    def fail(self, pos: int, message: str) -> TemplateError:
        return template_error(self.name, self.source, pos, message)

    def run(self) -> list[Token]:
        source = self.source
        pos = 0
        trim_next = False
        while True:
            start = source.find("{{", pos)
            text = source[pos:] if start < 0 else source[pos:start]
            if trim_next:
                text = text.lstrip(WHITE)
            if start < 0:
                if text:
                    self.tokens.append(Token("TEXT", text, pos, len(source)))
                break
            inner = start + 2
            if source.startswith("-", inner) and inner + 1 < len(source) and (
                source[inner + 1] in WHITE
            ):
                text = text.rstrip(WHITE)
                inner += 2
            if text:
                self.tokens.append(Token("TEXT", text, pos, start))
            if source.startswith("/*", inner):
                pos, trim_next = self.comment(start, inner)
                continue
            self.tokens.append(Token("LEFT", None, start, inner))
            pos, trim_next = self.action(inner)
        self.tokens.append(Token("EOF", None, len(source), len(source)))
        return self.tokens

    def comment(self, start: int, inner: int) -> tuple[int, bool]:
        source = self.source
        end = source.find("*/", inner + 2)
        if end < 0:
            raise self.fail(start, "unclosed comment")
        after = end + 2
        if source.startswith("}}", after):
            return after + 2, False
        if after < len(source) and source[after] in WHITE and source.startswith("-}}", after + 1):
            return after + 4, True
        raise self.fail(start, "comment ends before closing delimiter")

    def action(self, pos: int) -> tuple[int, bool]:
        """Tokens up to the closing delimiter; returns where text resumes and the trim."""
        source = self.source
        length = len(source)
        space = False
        while True:
            if pos >= length:
                raise self.fail(pos, "unclosed action")
            char = source[pos]
            if char in WHITE:
                if source.startswith("-}}", pos + 1):
                    self.tokens.append(Token("RIGHT", None, pos, pos + 4, True))
                    return pos + 4, True
                pos += 1
                space = True
                continue
            if source.startswith("}}", pos):
                self.tokens.append(Token("RIGHT", None, pos, pos + 2, space))
                return pos + 2, False
            pos = self.one(pos, space)
            space = False

    def emit(self, kind: str, value: Any, start: int, end: int, space: bool) -> int:
        self.tokens.append(Token(kind, value, start, end, space))
        return end

    def one(self, pos: int, space: bool) -> int:
        source = self.source
        char = source[pos]
        nxt = source[pos + 1] if pos + 1 < len(source) else ""
        simple = {"|": "PIPE", "(": "LPAREN", ")": "RPAREN", ",": "COMMA", "=": "ASSIGN"}
        if char in simple:
            return self.emit(simple[char], char, pos, pos + 1, space)
        if char == ":":
            if nxt != "=":
                raise self.fail(pos, "expected :=")
            return self.emit("DECLARE", ":=", pos, pos + 2, space)
        if char == '"':
            return self.quoted(pos, space)
        if char == "`":
            end = source.find("`", pos + 1)
            if end < 0:
                raise self.fail(pos, "unterminated raw quoted string")
            return self.emit("STRING", source[pos + 1 : end], pos, end + 1, space)
        if char == "'":
            return self.char_constant(pos, space)
        if char == "$":
            end = self.word_end(pos + 1)
            return self.emit("VARIABLE", source[pos:end], pos, end, space)
        if char == "." and not nxt.isdigit():
            if nxt.isalnum() or nxt == "_":
                end = self.word_end(pos + 1)
                return self.emit("FIELD", source[pos + 1 : end], pos, end, space)
            return self.emit("DOT", ".", pos, pos + 1, space)
        if char.isdigit() or char == "." or (char in "+-" and (nxt.isdigit() or nxt == ".")):
            return self.number(pos, space)
        if char.isalpha() or char == "_":
            end = self.word_end(pos)
            word = source[pos:end]
            if word in ("true", "false"):
                return self.emit("BOOL", word == "true", pos, end, space)
            if word == "nil":
                return self.emit("NIL", None, pos, end, space)
            return self.emit("KEYWORD" if word in KEYWORDS else "IDENT", word, pos, end, space)
        raise self.fail(pos, f"unrecognized character in action: {char!r}")

    def word_end(self, pos: int) -> int:
        source = self.source
        while pos < len(source) and (source[pos].isalnum() or source[pos] == "_"):
            pos += 1
        return pos

    def number(self, pos: int, space: bool) -> int:
        match = _NUMBER.match(self.source, pos)
        end = match.end() if match else pos
        after = self.source[end] if end < len(self.source) else ""
        text = self.source[pos:end].replace("_", "")
        if not match or end == pos or after.isalnum() or after == ".":
            raise self.fail(pos, f"bad number syntax: {self.source[pos:end + 1]!r}")
        value: int | float
        try:
            body = text.lstrip("+-")
            negative = text.startswith("-")
            if body[:2].lower() == "0x" and ("." in body or "p" in body.lower()):
                value = float.fromhex(body) * (-1 if negative else 1)
            elif body[:2].lower() in ("0x", "0o", "0b"):
                value = int(body, 0) * (-1 if negative else 1)
            elif any(c in body for c in ".eE"):
                value = float(text)
            elif len(body) > 1 and body.startswith("0"):
                value = int(body, 8) * (-1 if negative else 1)
            else:
                value = int(text)
        except ValueError:
            raise self.fail(pos, f"bad number syntax: {self.source[pos:end]!r}") from None
        return self.emit("NUMBER", value, pos, end, space)

    def quoted(self, pos: int, space: bool) -> int:
        source = self.source
        index = pos + 1
        while True:
            if index >= len(source) or source[index] == "\n":
                raise self.fail(pos, "unterminated quoted string")
            if source[index] == "\\":
                index += 2
                continue
            if source[index] == '"':
                break
            index += 1
        value = self.unescape(source[pos + 1 : index], pos, '"')
        return self.emit("STRING", value, pos, index + 1, space)

    def char_constant(self, pos: int, space: bool) -> int:
        source = self.source
        index = pos + 1
        while index < len(source) and source[index] not in "'\n":
            index += 2 if source[index] == "\\" else 1
        if index >= len(source) or source[index] != "'":
            raise self.fail(pos, "unterminated character constant")
        value = self.unescape(source[pos + 1 : index], pos, "'")
        if len(value) != 1:
            raise self.fail(pos, f"malformed character constant: {source[pos : index + 1]}")
        return self.emit("CHAR", ord(value), pos, index + 1, space)

    def unescape(self, body: str, pos: int, quote: str) -> str:
        out: list[str] = []
        index = 0
        while index < len(body):
            char = body[index]
            if char != "\\":
                out.append(char)
                index += 1
                continue
            esc = body[index + 1] if index + 1 < len(body) else ""
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                index += 2
            elif esc == quote:
                out.append(quote)
                index += 2
            elif esc in ("x", "u", "U"):
                size = {"x": 2, "u": 4, "U": 8}[esc]
                digits = body[index + 2 : index + 2 + size]
                if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise self.fail(pos, f"invalid escape \\{esc}{digits} in quoted string")
                out.append(chr(min(int(digits, 16), 0x10FFFF)))
                index += 2 + size
            elif esc in "01234567" and esc:
                digits = body[index + 1 : index + 4]
                if len(digits) != 3 or not all(c in "01234567" for c in digits):
                    raise self.fail(pos, f"invalid escape \\{digits} in quoted string")
                out.append(chr(int(digits, 8)))
                index += 4
            else:
                raise self.fail(pos, f"unknown escape sequence \\{esc} in quoted string")
        return "".join(out)


def lex(source: str, name: str) -> list[Token]:
    """The tokens of `source`; a `TemplateError` names the first thing that is wrong."""
    return _Lexer(source, name).run()
