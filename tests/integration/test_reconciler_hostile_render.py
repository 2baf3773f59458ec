"""Hostile repositories, fetched by the real Git source and rendered with the real tools.

No cluster is needed: a `git daemon` (and a smart-HTTP server) on 127.0.0.1 serve the
repositories, `GitSource` fetches them into a cache shared by every "tenant", and
`render` runs the directory renderer and our built kubectl kustomize on the checkouts.
Each test feeds the hostile input of a finding of the security review (H1 alias bomb,
H2 catastrophic glob, H4 kustomize reading a sibling checkout, a `file://` or a remote
base, M9 the tools' environment) and asserts the safe outcome.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import tools
from reconciler.render import RenderError, RenderPolicy, render
from reconciler.source import Checkout, GitSource
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from tests.integration.gitserver import GitDaemon, GitHttpServer

SECRET = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata:\n  password: hunter2\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"

needs_kubectl = pytest.mark.skipif(
    not KUBERNETES.built(cache_dir()) and shutil.which("kubectl") is None,
    reason="kubectl (kustomize) is not built yet: run `rollouts dev build`",
)


def alias_bomb(levels: int) -> str:
    lines = [CM.format(name="bomb").rstrip("\n"), "l0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"l{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]"
              for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    with GitDaemon(tmp_path) as server:
        yield server


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "cache", timeout=20)


def publish(daemon: GitDaemon, source: GitSource, name: str, files: dict[str, str | None]
            ) -> Checkout:
    daemon.create_repo(name, files)
    return source.fetch(daemon.url(name), "main")


def render_app(checkout: Checkout, path: str = "app", policy: RenderPolicy | None = None,
               **source: Any) -> list[dict[str, Any]]:
    return render(checkout.path, {"repoURL": "git://x", "path": path, **source},
                  app_name="tenant", namespace="team-b", policy=policy or RenderPolicy())


class TestAliasBomb:
    @pytest.mark.parametrize("levels", [4, 9])
    def test_refused_quickly_in_bounded_memory(self, daemon: GitDaemon, source: GitSource,
                                              levels: int) -> None:
        checkout = publish(daemon, source, "bomb", {"app/bomb.yaml": alias_bomb(levels),
                                                    "app/ok.yaml": CM.format(name="ok")})
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(RenderError) as caught:
                render_app(checkout)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert time.monotonic() - started < 5
        assert peak < 20 * 1024 * 1024  # the expansion would be ~10^9 nodes for 9 levels
        assert str(caught.value).startswith(
            "app/bomb.yaml: document 1: YAML aliases expand to more than 100000 nodes; ")


class TestCatastrophicGlob:
    def test_include_pattern_against_a_long_name_finishes(self, daemon: GitDaemon,
                                                         source: GitSource) -> None:
        checkout = publish(daemon, source, "glob", {
            f"app/{'a' * 60}.yaml": CM.format(name="sixty-a"),  # no `b`: the worst case
            f"app/{'a' * 12}b.yaml": CM.format(name="twelve-a-b"),
        })
        started = time.monotonic()
        objects = render_app(checkout, directory={"include": "*a*a*a*a*a*a*a*a*a*a*a*a*b*"})
        assert time.monotonic() - started < 2  # the backtracking regex took minutes
        assert [o["metadata"]["name"] for o in objects] == ["twelve-a-b"]

    def test_an_invalid_pattern_is_a_render_error(self, daemon: GitDaemon,
                                                  source: GitSource) -> None:
        checkout = publish(daemon, source, "badglob", {"app/a.yaml": CM.format(name="a")})
        with pytest.raises(RenderError, match=r"^directory.include '\[z-a\]\*' is not a valid "
                                              r"glob: the range 'z-a' is backwards"):
            render_app(checkout, directory={"include": "[z-a]*"})


@needs_kubectl
class TestKustomizeStaysInTheCheckout:
    def test_a_sibling_checkout_is_not_readable(self, daemon: GitDaemon,
                                                source: GitSource) -> None:
        victim = publish(daemon, source, "victim", {"app/secret.yaml": SECRET,
                                                    "app/kustomization.yaml": "resources:\n"
                                                    "- secret.yaml\n"})
        entry = f"../../{victim.path.name}/app"  # checkouts sit side by side in the cache
        attacker = publish(daemon, source, "attacker", {
            "app/kustomization.yaml": f"resources:\n- {entry}\n"})
        assert victim.path.parent == attacker.path.parent
        # The input is potent: kustomize alone (no scan) reads the other tenant's Secret.
        kubectl = str(tools.kubectl())
        unscanned = subprocess.run([kubectl, "kustomize", str(attacker.path / "app")],
                                   capture_output=True, text=True, timeout=60, check=False)
        assert "hunter2" in unscanned.stdout
        with pytest.raises(RenderError) as caught:
            render_app(attacker)
        assert str(caught.value) == (
            f"app/kustomization.yaml: resources entry {entry!r} leads outside the repository; "
            "kustomize may only use files in the Application's repository")

    def test_a_file_url_remote_base_is_refused_even_with_remote_bases_on(
        self, daemon: GitDaemon, source: GitSource, tmp_path: Path
    ) -> None:
        daemon.create_repo("private", {"app/secret.yaml": SECRET,
                                       "app/kustomization.yaml": "resources: [secret.yaml]\n"})
        bare = tmp_path / "private.git"
        subprocess.run(["git", "clone", "--quiet", "--bare", str(daemon.root / "private"),
                        str(bare)], check=True, timeout=60)
        entry = f"file://{bare}//app?ref=main"
        attacker = publish(daemon, source, "attacker", {
            "app/kustomization.yaml": f"resources:\n- {entry}\n"})
        for policy in (RenderPolicy(), RenderPolicy(allow_remote_bases=True)):
            with pytest.raises(RenderError) as caught:
                render_app(attacker, policy=policy)
            assert str(caught.value) == (
                f"app/kustomization.yaml: resources entry {entry!r} is a file:// base; "
                "kustomize may only use files in the Application's repository")

    @pytest.mark.parametrize("entry", [
        "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v3.3.1",
        "github.com/kubernetes-sigs/kustomize/examples/helloWorld",
        "git@github.com:kubernetes-sigs/kustomize.git/examples/helloWorld",
    ])
    def test_a_remote_base_is_refused_by_default(self, daemon: GitDaemon, source: GitSource,
                                                 entry: str) -> None:
        checkout = publish(daemon, source, "remote", {
            "overlay/kustomization.yaml": f"namePrefix: x-\nresources:\n- {entry}\n"})
        with pytest.raises(RenderError) as caught:
            render_app(checkout, "overlay")
        assert str(caught.value) == (
            f"overlay/kustomization.yaml: resources entry {entry!r} is a remote base, and "
            "remote bases are off in this controller; copy the base into the repository")

    def test_allowed_remote_bases_still_get_git_limited_to_https_and_ssh(
        self, daemon: GitDaemon, source: GitSource, tmp_path: Path
    ) -> None:
        with GitHttpServer(tmp_path / "http", "bot", "pw") as http:
            http.create_repo("base", {"app/cm.yaml": CM.format(name="remote"),
                                      "app/kustomization.yaml": "resources: [cm.yaml]\n"})
            entry = http.url("base").replace("http://", "http://bot:pw@") + "//app?ref=main"
            checkout = publish(daemon, source, "uses-remote", {
                "app/kustomization.yaml": f"resources:\n- {entry}\n"})
            with pytest.raises(RenderError, match="remote bases are off"):
                render_app(checkout)
            with pytest.raises(RenderError) as caught:
                render_app(checkout, policy=RenderPolicy(allow_remote_bases=True))
            assert str(caught.value).startswith("kustomize build of app failed: ")
            assert "transport 'http' not allowed" in str(caught.value)
            # (kustomize's own HTTP probe of the URL is allowed egress; git's fetch is not.)

    def test_a_base_elsewhere_in_the_same_repository_renders(self, daemon: GitDaemon,
                                                            source: GitSource) -> None:
        checkout = publish(daemon, source, "layered", {
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": CM.format(name="settings"),
            "overlays/prod/kustomization.yaml": "namePrefix: prod-\nresources:\n- ../../base\n"
                                                "configMapGenerator:\n- name: extra\n"
                                                "  files: [extra.conf]\n",
            "overlays/prod/extra.conf": "debug = false\n",
        })
        objects = render_app(checkout, "overlays/prod")
        assert sorted(o["metadata"]["name"] for o in objects)[1] == "prod-settings"
        assert any(o["metadata"]["name"].startswith("prod-extra-") for o in objects)
