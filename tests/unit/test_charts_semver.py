"""Chart versions and constraints read as Argo CD reads targetRevision (Masterminds semver)."""

from __future__ import annotations

import pytest

from reconciler.charts.semver import (
    ConstraintProblem,
    is_version,
    max_version,
    parse_constraint,
    parse_version,
)

PUBLISHED = ["1.0.0", "1.2.0", "1.2.7", "1.3.0-rc.1", "2.0.0", "13.2.0", "13.2.4", "13.3.1"]


class TestVersions:
    @pytest.mark.parametrize(("text", "parts"), [
        ("1.2.3", (1, 2, 3, "", "")),
        ("v1.2.3", (1, 2, 3, "", "")),
        ("1.2", (1, 2, 0, "", "")),
        ("1", (1, 0, 0, "", "")),
        ("1.0.0-rc.1+build.5", (1, 0, 0, "rc.1", "build.5")),
        ("1.0.0-alpha-2", (1, 0, 0, "alpha-2", "")),
    ])
    def test_lenient_forms_parse_as_masterminds_does(self, text: str, parts: tuple[object, ...]
                                                     ) -> None:
        version = parse_version(text)
        assert version is not None
        assert (version.major, version.minor, version.patch, version.prerelease,
                version.metadata) == parts
        assert version.original == text

    @pytest.mark.parametrize("text", ["", "HEAD", "main", "1.2.3.4", "1.x", "*", ">=1.0",
                                      "1.0.0-01", "1.0.0-", "1.0.0+", "V1.0.0", "1.0.0\n"])
    def test_what_is_not_a_version(self, text: str) -> None:
        assert parse_version(text) is None
        assert not is_version(text)

    @pytest.mark.parametrize(("lower", "higher"), [
        ("1.0.0", "1.0.1"), ("1.0.9", "1.1.0"), ("1.9.0", "1.10.0"), ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"), ("1.0.0-beta", "1.0.0-rc"),
        ("1.0.0-1", "1.0.0-a"),
    ])
    def test_precedence_is_semver_precedence(self, lower: str, higher: str) -> None:
        low, high = parse_version(lower), parse_version(higher)
        assert low is not None and high is not None
        assert low.compare(high) == -1 and high.compare(low) == 1

    def test_build_metadata_does_not_count(self) -> None:
        a, b = parse_version("1.0.0+a"), parse_version("1.0.0+b")
        assert a is not None and b is not None and a.compare(b) == 0


def fits(constraint: str, version: str) -> bool:
    parsed = parse_version(version)
    assert parsed is not None
    return parse_constraint(constraint).check(parsed)


class TestConstraints:
    @pytest.mark.parametrize(("constraint", "version", "expected"), [
        # exact and wildcards
        ("1.2.3", "1.2.3", True), ("1.2.3", "1.2.4", False), ("=1.2.3", "1.2.3", True),
        ("13.2.x", "13.2.4", True), ("13.2.x", "13.3.0", False), ("13.2", "13.2.9", True),
        ("1.x", "1.9.9", True), ("1.x", "2.0.0", False), ("1", "1.4.0", True),
        ("*", "0.0.1", True), ("*", "99.0.0", True), ("x", "3.1.4", True),
        # tilde
        ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False), ("~1.2.3", "1.2.2", False),
        ("~1.2", "1.2.0", True), ("~1", "1.9.0", True), ("~1", "2.0.0", False),
        ("~>1.2", "1.2.5", True), ("~0.0.0", "5.0.0", True),
        # caret
        ("^1.2.3", "1.9.0", True), ("^1.2.3", "2.0.0", False), ("^1.2.3", "1.2.2", False),
        ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False), ("^0.0.3", "0.0.3", True),
        ("^0.0.3", "0.0.4", False), ("^0", "0.9.0", True), ("^0", "1.0.0", False),
        ("^1.x", "1.5.0", True),
        # comparisons, and/or, hyphen ranges
        (">=1.0 <2.0", "1.9.9", True), (">=1.0 <2.0", "2.0.0", False),
        (">=1.0, <2.0", "1.0.0", True), (">1.2", "1.2.1", False), (">1.2", "1.3.0", True),
        (">1.2.x", "1.2.9", False),
        (">1.2.x", "1.3.0", True), (">1.x", "1.9.0", False), (">1.x", "2.0.0", True),
        ("<=1.2.x", "1.2.9", True), ("<=1.2.x", "1.3.0", False), ("<=1.x", "1.9.0", True),
        ("<1.0.0", "0.9.9", True), ("!=1.2.3", "1.2.3", False), ("!=1.2.x", "1.2.5", False),
        ("!=1.2.x", "1.3.0", True), ("<1.0 || >=2.0", "2.1.0", True),
        ("<1.0 || >=2.0", "1.5.0", False), ("1.0.0 - 1.2.0", "1.2.0", True),
        ("1.0.0 - 1.2.0", "1.2.1", False), ("=>1.0", "1.0.0", True), ("=<1.0", "1.0.0", True),
    ])
    def test_masterminds_semantics(self, constraint: str, version: str,
                                   expected: bool) -> None:
        assert fits(constraint, version) is expected

    @pytest.mark.parametrize(("constraint", "version", "expected"), [
        ("1.x", "1.3.0-rc.1", False), ("*", "2.0.0-beta", False), (">=1.0", "1.5.0-rc", False),
        (">=1.3.0-0", "1.3.0-rc.1", True), (">=1.3.0-0", "1.4.0-rc.1", True),
        ("1.3.0-rc.1", "1.3.0-rc.1", True),
        # the prerelease asks for prereleases only in its own alternative
        (">=2.0.0-0 || 1.x", "1.3.0-rc.1", False),
    ])
    def test_prereleases_only_when_asked(self, constraint: str, version: str,
                                         expected: bool) -> None:
        assert fits(constraint, version) is expected

    @pytest.mark.parametrize("text", ["", "HEAD", "main", ">=", "1.0 ||", "~>", "1.2.3.4",
                                      "> = 1", "1|2.0", "a" * 600])
    def test_bad_constraints_are_refused(self, text: str) -> None:
        with pytest.raises(ConstraintProblem):
            parse_constraint(text)


class TestMaxVersion:
    @pytest.mark.parametrize(("revision", "picked"), [
        ("1.x", "1.2.7"), ("^1.0", "1.2.7"), ("13.2.x", "13.2.4"), ("~13.2.0", "13.2.4"),
        (">=1.0 <2.0", "1.2.7"), ("*", "13.3.1"), (">=1.3.0-0 <2.0.0", "1.3.0-rc.1"),
        ("<1.0 || 2.x", "2.0.0"), ("1.0.0 - 1.2.0", "1.2.0"),
    ])
    def test_a_constraint_picks_the_greatest_listed_version_it_admits(
            self, revision: str, picked: str) -> None:
        assert max_version(revision, PUBLISHED) == picked

    def test_a_version_is_a_pin_returned_as_written_even_when_unlisted(self) -> None:
        assert max_version("9.9.9", PUBLISHED) == "9.9.9"
        assert max_version("v1.2", PUBLISHED) == "v1.2"

    def test_the_listed_spelling_is_returned(self) -> None:
        assert max_version("1.x", ["v1.0.0", "v1.1.0", "junk", ""]) == "v1.1.0"

    def test_equal_versions_keep_the_first_listed(self) -> None:
        assert max_version("1.x", ["1.0.0+a", "1.0.0+b"]) == "1.0.0+a"

    def test_a_listed_non_semver_name_is_taken_verbatim(self) -> None:
        assert max_version("latest", ["latest", "1.0.0"]) == "latest"

    def test_nothing_matching_says_so(self) -> None:
        with pytest.raises(ConstraintProblem, match=r"no version matches '3.x' among the 8"):
            max_version("3.x", PUBLISHED)

    def test_a_revision_that_is_neither_says_what_to_write(self) -> None:
        with pytest.raises(ConstraintProblem, match=r"neither a version nor a version "
                                                    r"constraint.*e\.g\. 1\.2\.3"):
            max_version("main", PUBLISHED)
