"""Chart versions and version constraints, read the way Argo CD reads `targetRevision`.

Argo CD picks a chart version with the Go library Masterminds/semver (v3); this module
gives the same answers, so an Application's `targetRevision` means what it meant there:

    targetRevision      picks, of 1.0.0 1.2.0 1.2.7 1.3.0-rc.1 2.0.0
    1.2.0               1.2.0   (a version is a pin: used as written, not looked up)
    1.2.x  / 1.2 / ~1.2 1.2.7
    1.x    / ^1.0       1.2.7   (1.3.0-rc.1 is a prerelease: never picked unless asked)
    >=1.0 <2.0          1.2.7   (space or comma: and; `||`: or)
    >=1.3.0-0           2.0.0   (a prerelease in the range asks for prereleases too)
    * / x               2.0.0
    1.0.0 - 1.2.0       1.2.0   (a hyphen range: >= 1.0.0, <= 1.2.0)

`parse_version` is Masterminds' `NewVersion` (lenient: `v1`, `1.2` and `1.2.3` all parse;
missing parts are 0), `parse_constraint` its `NewConstraint`, and `max_version(revision,
versions)` Argo CD's `versions.MaxVersion`: a revision that parses as a version is a pin
and is returned as written; otherwise it must be a constraint, and the greatest listed
version satisfying it is returned as it was listed (a revision that is neither is
accepted only if it is listed verbatim). Pure: no I/O. Neighbours: `reconciler.charts.index`
(the versions a repository lists) and `reconciler.charts.source` (which asks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "Constraint",
    "ConstraintProblem",
    "Version",
    "is_version",
    "max_version",
    "parse_constraint",
    "parse_version",
]

_VERSION = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
# In a constraint a part may be a wildcard (x, X, *). The `|` inside the classes is
# Masterminds' own quirk (it is a literal there); such a part then fails to parse as a
# version and the constraint is refused, as there.
_CV = (r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
       r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
       r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?")
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_ONE = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*\Z")
_FIND = re.compile(rf"({_OPS})\s*({_CV})")
_VALID = re.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*\Z")
_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_IDENTIFIER = re.compile(r"[0-9A-Za-z\-]+")
_MAX_TEXT = 512  # a constraint longer than this is not a version range anyone writes


class ConstraintProblem(ValueError):
    """`targetRevision` is neither a version nor a constraint (one line, safe to show)."""


@dataclass(frozen=True)
class Version:
    """A semantic version; `original` is the text it was read from (what is reported)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = ""

    def compare(self, other: Version) -> int:
        """-1, 0 or 1; build metadata is ignored, a prerelease sorts before its release."""
        mine, theirs = (self.major, self.minor, self.patch), (other.major, other.minor,
                                                              other.patch)
        if mine != theirs:
            return -1 if mine < theirs else 1
        if self.prerelease == other.prerelease:
            return 0
        if not self.prerelease:
            return 1
        if not other.prerelease:
            return -1
        return _compare_prerelease(self.prerelease, other.prerelease)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text


def _compare_prerelease(mine: str, theirs: str) -> int:
    left, right = mine.split("."), theirs.split(".")
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else ""
        b = right[index] if index < len(right) else ""
        result = _compare_part(a, b)
        if result:
            return result
    return 0


def _compare_part(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a:
        return -1  # fewer identifiers sort first (1.0.0-rc < 1.0.0-rc.1)
    if not b:
        return 1
    a_number, b_number = a.isdigit(), b.isdigit()
    if a_number and b_number:
        return -1 if int(a) < int(b) else 1
    if a_number:
        return -1  # numbers sort before words
    if b_number:
        return 1
    return -1 if a < b else 1


def _valid_prerelease(text: str) -> bool:
    for part in text.split("."):
        if part.isdigit():
            if len(part) > 1 and part.startswith("0"):
                return False
        elif not _IDENTIFIER.fullmatch(part):
            return False
    return True


def parse_version(text: str) -> Version | None:
    """`text` as a version (`1.2.3`, `v1.2`, `2`, `1.0.0-rc.1+build.5`), or None."""
    if len(text) > _MAX_TEXT:
        return None
    found = _VERSION.fullmatch(text)
    if found is None:
        return None
    prerelease, metadata = found.group(5) or "", found.group(8) or ""
    if prerelease and not _valid_prerelease(prerelease):
        return None
    if metadata and not all(_IDENTIFIER.fullmatch(p) for p in metadata.split(".")):
        return None
    return Version(
        major=int(found.group(1)),
        minor=int((found.group(2) or ".0")[1:]),
        patch=int((found.group(3) or ".0")[1:]),
        prerelease=prerelease, metadata=metadata, original=text,
    )


def is_version(text: str) -> bool:
    """Whether `text` is a pin rather than a range (Argo CD's `versions.IsVersion`)."""
    return parse_version(text) is not None


# -- constraints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    """One comparison: `op` applied to `bound`; `minor_any`/`patch_any` mark wildcards."""

    op: str
    bound: Version
    dirty: bool
    minor_any: bool
    patch_any: bool


def _wild(part: str) -> bool:
    return part in ("x", "X", "*")


def _term(text: str) -> _Term:
    found = _ONE.match(text)
    if found is None:
        raise ConstraintProblem(f"improper constraint: {text.strip()}")
    op, version = found.group(1), found.group(2)
    major, minor, patch, tail = found.group(3), found.group(4), found.group(5), \
        found.group(6) or ""
    dirty = minor_any = patch_any = False
    if _wild(major):
        version, dirty = f"0.0.0{tail}", True
    elif minor is None or _wild(minor[1:]):
        version, dirty, minor_any = f"{major}.0.0{tail}", True, True
    elif patch is None or _wild(patch[1:]):
        version, dirty, patch_any = f"{major}{minor}.0{tail}", True, True
    bound = parse_version(version)
    if bound is None:
        raise ConstraintProblem(f"improper constraint: {text.strip()}")
    return _Term(op, bound, dirty, minor_any, patch_any)


@dataclass(frozen=True)
class Constraint:
    """Alternatives (`||`) of conjunctions of terms; `check(version)` says if it fits."""

    groups: tuple[tuple[_Term, ...], ...]
    prerelease_groups: tuple[bool, ...]
    """Per alternative: whether one of its bounds has a prerelease (then it admits them)."""
    text: str

    def check(self, version: Version) -> bool:
        for terms, with_pre in zip(self.groups, self.prerelease_groups, strict=True):
            if version.prerelease and not with_pre:
                continue  # a prerelease only fits a range that asks for prereleases
            if all(_CHECKS[term.op](version, term) for term in terms):
                return True
        return False


def parse_constraint(text: str) -> Constraint:
    """`text` as a constraint (Masterminds' `NewConstraint`); `ConstraintProblem` if not."""
    if len(text) > _MAX_TEXT:
        raise ConstraintProblem(f"constraint is longer than {_MAX_TEXT} characters")
    rewritten = _RANGE.sub(lambda m: f">= {m.group(1)}, <= {m.group(11)} ", text)
    groups: list[tuple[_Term, ...]] = []
    with_pre: list[bool] = []
    for alternative in rewritten.split("||"):
        if not _VALID.match(alternative):
            raise ConstraintProblem(f"improper constraint: {alternative.strip() or text}")
        pieces = [m.group(0) for m in _FIND.finditer(alternative)] or [alternative]
        terms = tuple(_term(piece) for piece in pieces)
        groups.append(terms)
        with_pre.append(any(term.bound.prerelease for term in terms))
    return Constraint(tuple(groups), tuple(with_pre), text)


# Each check assumes the prerelease gate above has passed (Masterminds' functions repeat it).

def _equal_or_tilde(v: Version, t: _Term) -> bool:
    return _tilde(v, t) if t.dirty else v.compare(t.bound) == 0


def _not_equal(v: Version, t: _Term) -> bool:
    if t.dirty:
        if t.bound.major != v.major:
            return True
        if t.minor_any:
            return False
        if t.bound.minor != v.minor:
            return True
        if t.patch_any:
            if v.prerelease or t.bound.prerelease:
                return _compare_prerelease(v.prerelease, t.bound.prerelease) != 0
            return False
    return v.compare(t.bound) != 0


def _greater(v: Version, t: _Term) -> bool:
    if not t.dirty:
        return v.compare(t.bound) > 0
    if v.major != t.bound.major:
        return v.major > t.bound.major
    if t.minor_any:
        return False  # >1.x wants 2 or more
    if t.patch_any:
        return v.minor > t.bound.minor  # >1.2.x wants 1.3 or more
    return v.compare(t.bound) > 0


def _less(v: Version, t: _Term) -> bool:
    return v.compare(t.bound) < 0


def _greater_equal(v: Version, t: _Term) -> bool:
    return v.compare(t.bound) >= 0


def _less_equal(v: Version, t: _Term) -> bool:
    if not t.dirty:
        return v.compare(t.bound) <= 0
    if v.major > t.bound.major:
        return False
    return not (v.major == t.bound.major and v.minor > t.bound.minor and not t.minor_any)


def _tilde(v: Version, t: _Term) -> bool:
    """~1.2.3 is >=1.2.3 <1.3.0; ~1 and ~1.x are >=1.0.0 <2.0.0; ~0.0.0 and ~* any."""
    if v.compare(t.bound) < 0:
        return False
    bound = t.bound
    if (bound.major, bound.minor, bound.patch) == (0, 0, 0) and not t.minor_any \
            and not t.patch_any:
        return True
    if v.major != bound.major:
        return False
    return v.minor == bound.minor or t.minor_any


def _caret(v: Version, t: _Term) -> bool:
    """^1.2.3 is >=1.2.3 <2.0.0; ^0.2.3 is >=0.2.3 <0.3.0; ^0.0.3 is =0.0.3."""
    if v.compare(t.bound) < 0:
        return False
    bound = t.bound
    if bound.major > 0 or t.minor_any:
        return v.major == bound.major
    if v.major > 0:
        return False
    if bound.minor > 0 or t.patch_any:
        return v.minor == bound.minor
    if v.minor > 0:
        return False
    return v.patch == bound.patch


_CHECKS: dict[str, Callable[[Version, _Term], bool]] = {
    "": _equal_or_tilde, "=": _equal_or_tilde, "!=": _not_equal,
    ">": _greater, "<": _less, ">=": _greater_equal, "=>": _greater_equal,
    "<=": _less_equal, "=<": _less_equal, "~": _tilde, "~>": _tilde, "^": _caret,
}


def max_version(revision: str, versions: Iterable[str]) -> str:
    """The version `revision` names among `versions` (Argo CD's `versions.MaxVersion`).

    A pin (`1.2.3`, `v1.2`) is returned as written, listed or not. A constraint returns
    the greatest listed version it admits, as listed (the first of equals). A revision
    that is neither must be listed verbatim. `ConstraintProblem` otherwise. Listed
    versions that do not parse are skipped.
    """
    revision = revision.strip()
    if is_version(revision):
        return revision
    listed = list(versions)
    try:
        constraint = parse_constraint(revision)
    except ConstraintProblem as problem:
        if revision in listed:
            return revision
        raise ConstraintProblem(
            f"targetRevision {revision[:80]!r} is neither a version nor a version "
            f"constraint ({problem}); write e.g. 1.2.3, 1.2.x or >=1.2 <2"
        ) from None
    best: Version | None = None
    for text in listed:
        version = parse_version(text)
        if version is not None and constraint.check(version) and (
                best is None or version.compare(best) > 0):
            best = version
    if best is None:
        raise ConstraintProblem(
            f"no version matches {revision[:80]!r} among the {len(listed)} listed")
    return best.original
