"""A signed webhook push is applied at once, push after push, not at the next Git poll.

The controller runs with `--app-resync 60`: a commit picked up by polling takes up to
66 s. Three commits are pushed one after the other, each signed push sent right after
the commit and right after the previous push's value was applied (the pattern of
`tests/bench/reconciler.py`, where a regression made each push wait for the next poll).
Each push must be answered with the Application it refreshed, and its value must be in
the API server in well under half a resync: far from "at once" on a loaded machine, but
never reachable by a poll. The request bodies are what GitHub sends, so each differs
(`before`/`after` shas, a delivery id): an identical body would be a replay, which the
webhook acknowledges and ignores by design (`reconciler.webhook`).

What this guards: a refresh must ask Git afresh, after the push; an answer Git gave
before it (the shared poll of `reconciler.app_source`, or the previous push's) must not
serve it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    GUESTBOOK_IMAGE,
    SECRET,
    application,
    apply,
    compat_repo,
    daemon,
    guestbook_with,
    image_of,
    running_reconciler,
    wait_app,
)
from tests.integration.support import wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

RESYNC = 60.0


def github_push(url: str, before: str, after: str) -> tuple[bytes, dict[str, str]]:
    """A push body and headers as GitHub sends them (the fields the webhook reads, and
    the shas that make every push's body and signature unique)."""
    body = json.dumps({
        "ref": "refs/heads/main", "before": before, "after": after,
        "head_commit": {"id": after},
        "repository": {"html_url": url.replace("git://", "https://"),
                       "clone_url": url + ".git", "default_branch": "main"},
    }).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
                  "X-Hub-Signature-256": f"sha256={signature}"}


def test_each_signed_push_is_applied_well_before_the_next_poll(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    url = daemon.url("apps")
    apply(cluster, namespace, application("guestbook", url, "guestbook", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=RESYNC) as controller:
        before = repo.head()
        wait_app(cluster, namespace, "guestbook", revision=before, timeout=60)
        elapsed: list[float] = []
        for tag in ("v6", "v7", "v8"):
            after = repo.commit(guestbook_with(tag), f"image {tag}")
            started = time.monotonic()
            code, answer = controller.post_webhook(*github_push(url, before, after))
            assert (code, answer) == (200, {"refreshed": [f"{namespace}/guestbook"]})
            image = GUESTBOOK_IMAGE.format(tag=tag)

            def applied(image: str = image) -> bool:
                return image_of(cluster, namespace, "deployment", "guestbook-ui") == image

            wait_for(applied, RESYNC * 1.1 + 30, f"the pushed image {tag} to be applied")
            elapsed.append(time.monotonic() - started)
            before = after
        wait_app(cluster, namespace, "guestbook", revision=before, timeout=30)
    assert max(elapsed) < RESYNC / 2, (
        f"pushes applied after {[round(s, 1) for s in elapsed]} s: a refresh waited for a "
        f"poll (resync {RESYNC:.0f} s)")
