"""Revision resolution as pure functions over `git ls-remote` output.

`targetRevision` may be `HEAD` (the remote's default branch), a branch, a tag, a full
ref (`refs/heads/main`), or a full or abbreviated commit sha. Names are looked up the way
`git rev-parse` does (`refs/<x>`, then `refs/tags/<x>`, then `refs/heads/<x>`), and an
annotated tag resolves to the commit it points at (the `^{}` line), never to the tag
object. A revision that names no ref but looks like hex is tried as a commit sha.

Used by `reconciler.source`; no I/O here, so the tests are plain functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "RemoteRefs",
    "is_full_sha",
    "looks_like_sha",
    "match_revision",
    "parse_ls_remote",
]

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_SHORT_SHA = re.compile(r"^[0-9a-fA-F]{4,64}$")
_PEELED = "^{}"


def is_full_sha(revision: str) -> bool:
    """A complete SHA-1 (or SHA-256) commit id: nothing to resolve over the network."""
    return bool(_FULL_SHA.match(revision.lower()))


def looks_like_sha(revision: str) -> bool:
    """Could be an abbreviated commit id (4 to 64 hex digits)."""
    return bool(_SHORT_SHA.match(revision))


@dataclass(frozen=True)
class RemoteRefs:
    """What a remote advertises: ref name -> commit sha (tags already peeled)."""

    refs: dict[str, str]
    head_target: str | None = None
    """The branch HEAD points to (`refs/heads/main`), when the server says (`--symref`)."""


def parse_ls_remote(output: str) -> RemoteRefs:
    """Parse `git ls-remote --symref` output into refs with peeled tags.

    >>> parse_ls_remote("ref: refs/heads/main\\tHEAD\\n1111\\tHEAD\\n1111\\trefs/heads/main\\n"
    ...                 "2222\\trefs/tags/v1\\n3333\\trefs/tags/v1^{}\\n").refs["refs/tags/v1"]
    '3333'
    """
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    head_target: str | None = None
    for line in output.splitlines():
        left, _, name = line.strip().partition("\t")
        if not name:
            continue
        if left.startswith("ref: "):
            if name == "HEAD":
                head_target = left.removeprefix("ref: ").strip()
            continue
        if name.endswith(_PEELED):
            peeled[name.removesuffix(_PEELED)] = left.lower()
        else:
            refs[name] = left.lower()
    refs.update(peeled)
    return RemoteRefs(refs=refs, head_target=head_target)


def match_revision(remote: RemoteRefs, revision: str) -> tuple[str, str] | None:
    """The `(ref, sha)` that `revision` names among the remote's refs, or None."""
    revision = revision.strip()
    if revision == "HEAD":
        if "HEAD" in remote.refs:
            return (remote.head_target or "HEAD", remote.refs["HEAD"])
        if remote.head_target and remote.head_target in remote.refs:
            return (remote.head_target, remote.refs[remote.head_target])
        return None
    for candidate in (revision, f"refs/{revision}", f"refs/tags/{revision}",
                      f"refs/heads/{revision}"):
        if candidate.startswith("refs/") and candidate in remote.refs:
            return (candidate, remote.refs[candidate])
    return None
