"""Glob patterns the way Argo CD matches them, compiled once and matched in linear time.

Argo CD uses two glob dialects in an AppProject, and so do we:

- `Dialect.GOBWAS` (Argo's `util/glob`, the gobwas/glob library): `sourceRepos`,
  `destinations`, `sourceNamespaces`, sync window `applications`/`namespaces`/`clusters`,
  `orphanedResources.ignore`. Syntax: `*` any run of characters except the separators,
  `**` any run including them, `?` one character except a separator, `[abc]`, `[a-z]`,
  `[!abc]` classes, `{a,b}` alternatives (which may nest and hold other syntax), `\\`
  escapes the next character. Only `sourceRepos` passes a separator (`/`), so there `*`
  stays within one path segment.
- `Dialect.FILEPATH` (Go's `filepath.Match`): group, kind and name of the resource
  white/blacklists. `*` never crosses `/`, `?`, classes negated with `^`, `\\` escapes,
  no alternatives.

`compile_glob(pattern, dialect, separators)` returns a `Glob` or raises `GlobError` (a
malformed pattern matches nothing in Argo; `rollouts lint` reports it). Matching simulates
the pattern's automaton over the text, so it costs O(len(pattern) x len(text)) whatever the
pattern: no backtracking, no catastrophic case. Alternatives are expanded at compile time,
at most `MAX_GLOB_ALTERNATIVES` of them.

Pure standard library: `rollouts.api.rules_appproject` (lint) and `reconciler.projects`
(the rules) both use it.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

__all__ = ["MAX_GLOB_ALTERNATIVES", "Dialect", "Glob", "GlobError", "compile_glob", "glob_match"]

MAX_GLOB_ALTERNATIVES = 256
"""A pattern whose `{a,b}` alternatives expand to more variants than this is refused."""


class Dialect(enum.Enum):
    GOBWAS = "gobwas"
    FILEPATH = "filepath"


class GlobError(ValueError):
    """A malformed pattern; the message says what is wrong in it."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "lit", "one", "star", "super", "class"
    char: str = ""
    ranges: tuple[tuple[str, str], ...] = ()
    negated: bool = False


_Seq = tuple[_Token, ...]


@dataclass(frozen=True)
class Glob:
    """A compiled pattern: `match(text)` is True when the whole text matches."""

    pattern: str
    variants: tuple[_Seq, ...]
    separators: frozenset[str]

    def match(self, text: str) -> bool:
        return any(_run(variant, text, self.separators) for variant in self.variants)


def compile_glob(pattern: str, dialect: Dialect = Dialect.GOBWAS, separators: str = "") -> Glob:
    """Compile `pattern`; raise `GlobError` naming the mistake when it is malformed."""
    return _compile_cached(pattern, dialect, separators)


def glob_match(pattern: str, text: str, dialect: Dialect = Dialect.GOBWAS,
               separators: str = "") -> bool:
    """Whether `text` matches `pattern`; a malformed pattern matches nothing (as in Argo)."""
    try:
        return compile_glob(pattern, dialect, separators).match(text)
    except GlobError:
        return False


@functools.lru_cache(maxsize=1024)
def _compile_cached(pattern: str, dialect: Dialect, separators: str) -> Glob:
    parser = _Parser(pattern, dialect)
    variants = parser.alternatives(top=True)
    return Glob(pattern, tuple(variants), frozenset(separators))


class _Parser:
    def __init__(self, pattern: str, dialect: Dialect) -> None:
        self.text = pattern
        self.pos = 0
        self.dialect = dialect

    def _fail(self, message: str) -> GlobError:
        return GlobError(f"bad glob {self.text!r}: {message}")

    def alternatives(self, *, top: bool) -> list[_Seq]:
        """Variants of a sequence that ends at the end (top) or at `,`/`}` (in braces)."""
        variants: list[_Seq] = [()]
        while self.pos < len(self.text):
            char = self.text[self.pos]
            braces = self.dialect is Dialect.GOBWAS
            if not top and braces and char in ",}":
                return variants
            if braces and char == "{":
                self.pos += 1
                options = self._brace_group()
                variants = self._product(variants, options)
                continue
            token = self._token()
            variants = [(*variant, token) for variant in variants]
        if not top:
            raise self._fail("'{' is never closed")
        return variants

    def _brace_group(self) -> list[_Seq]:
        options: list[_Seq] = []
        while True:
            options.extend(self.alternatives(top=False))
            if len(options) > MAX_GLOB_ALTERNATIVES:
                raise self._fail(f"more than {MAX_GLOB_ALTERNATIVES} alternatives")
            closing = self.text[self.pos]
            self.pos += 1
            if closing == "}":
                return options

    def _product(self, prefixes: list[_Seq], options: list[_Seq]) -> list[_Seq]:
        if len(prefixes) * len(options) > MAX_GLOB_ALTERNATIVES:
            raise self._fail(f"its {{...}} alternatives expand to more than "
                             f"{MAX_GLOB_ALTERNATIVES} patterns")
        return [prefix + option for prefix in prefixes for option in options]

    def _token(self) -> _Token:
        char = self.text[self.pos]
        self.pos += 1
        if char == "\\":
            if self.pos >= len(self.text):
                raise self._fail("it ends with a lone '\\'")
            escaped = self.text[self.pos]
            self.pos += 1
            return _Token("lit", escaped)
        if char == "*":
            if self.dialect is Dialect.GOBWAS and self.text.startswith("*", self.pos):
                while self.text.startswith("*", self.pos):
                    self.pos += 1
                return _Token("super")
            return _Token("star")
        if char == "?":
            return _Token("one")
        if char == "[":
            return self._class()
        return _Token("lit", char)

    def _class(self) -> _Token:
        negation = "!" if self.dialect is Dialect.GOBWAS else "^"
        negated = self.text.startswith(negation, self.pos)
        if negated:
            self.pos += 1
        ranges: list[tuple[str, str]] = []
        first = True
        while True:
            if self.pos >= len(self.text):
                raise self._fail("'[' is never closed")
            char = self.text[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            low = self._class_char()
            high = low
            if self.text.startswith("-", self.pos) and not self.text.startswith("-]", self.pos):
                self.pos += 1
                high = self._class_char()
                if high < low:
                    raise self._fail(f"range {low}-{high} is backwards")
            ranges.append((low, high))
        if not ranges:
            raise self._fail("'[]' is empty")
        return _Token("class", ranges=tuple(ranges), negated=negated)

    def _class_char(self) -> str:
        if self.pos >= len(self.text):
            raise self._fail("'[' is never closed")
        char = self.text[self.pos]
        self.pos += 1
        if char == "\\":
            if self.pos >= len(self.text):
                raise self._fail("it ends with a lone '\\'")
            char = self.text[self.pos]
            self.pos += 1
        return char


def _closure(states: set[int], tokens: _Seq) -> set[int]:
    # `*` and `**` may match nothing: a state before one also stands after it.
    pending = list(states)
    while pending:
        state = pending.pop()
        if state < len(tokens) and tokens[state].kind in ("star", "super"):
            following = state + 1
            if following not in states:
                states.add(following)
                pending.append(following)
    return states


def _accepts(token: _Token, char: str, separators: frozenset[str]) -> bool:
    if token.kind == "lit":
        return token.char == char
    if token.kind in ("one", "star"):
        return char not in separators
    if token.kind == "super":
        return True
    inside = any(low <= char <= high for low, high in token.ranges)
    return inside != token.negated


def _run(tokens: _Seq, text: str, separators: frozenset[str]) -> bool:
    states = _closure({0}, tokens)
    for char in text:
        following: set[int] = set()
        for state in states:
            if state >= len(tokens):
                continue
            token = tokens[state]
            if not _accepts(token, char, separators):
                continue
            # `*` and `**` stay on themselves after a character; the others move on.
            following.add(state if token.kind in ("star", "super") else state + 1)
        if not following:
            return False
        states = _closure(following, tokens)
    return len(tokens) in states
