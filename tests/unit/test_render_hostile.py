"""Hostile Git content against the renderers: alias bombs, size and count limits, nesting,
catastrophic globs, kustomizations reaching out of the checkout, and the tools' environment.

Real files in temporary directories and real (fake-script) tool processes; the Git and
real-kubectl versions are in tests/integration/test_reconciler_hostile_render.py.
"""

from __future__ import annotations

import os
import random
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from reconciler import tools
from reconciler.render import RenderError, RenderPolicy, render
from reconciler.render_base import RenderBudget, check_objects, load_json, load_yaml
from reconciler.render_directory import MAX_GLOB_LENGTH, compile_glob, render_directory
from reconciler.render_kustomize import scan_kustomizations

HEADER = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def alias_bomb(levels: int, width: int = 10) -> str:
    """The review's probe: each level is a list of `width` aliases of the level below."""
    lines = [HEADER.format(name="bomb").rstrip("\n"),
             "data0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"data{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)


def render_dir(root: Path, policy: RenderPolicy | None = None, **directory: Any
               ) -> list[dict[str, Any]]:
    source: dict[str, Any] = {"repoURL": "x", "path": "app"}
    if directory:
        source["directory"] = directory
    return render(root, source, app_name="a", namespace="n", policy=policy or RenderPolicy())


class TestAliases:
    @pytest.mark.parametrize("levels", [4, 9])
    def test_an_alias_bomb_is_refused_quickly_in_bounded_memory(self, tmp_path: Path,
                                                                 levels: int) -> None:
        write(tmp_path / "app", {"bomb.yaml": alias_bomb(levels)})
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(RenderError) as caught:
                render_dir(tmp_path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert str(caught.value) == (
            "app/bomb.yaml: document 1: YAML aliases expand to more than 100000 nodes; write "
            "the repeated parts out or use fewer levels of aliases")
        assert time.monotonic() - started < 2
        assert peak < 20 * 1024 * 1024

    def test_ordinary_anchors_aliases_and_merge_keys_keep_working(self, tmp_path: Path) -> None:
        text = HEADER.format(name="ok") + (
            "data: &labels {team: a, tier: web}\n"
            "spec:\n  selector: *labels\n  template:\n    <<: *labels\n    extra: '1'\n")
        write(tmp_path / "app", {"ok.yaml": text, "also.yaml": alias_bomb(2)})
        [also, ok] = render_dir(tmp_path)
        assert ok["spec"] == {"selector": {"team": "a", "tier": "web"},
                              "template": {"team": "a", "tier": "web", "extra": "1"}}
        assert also["data2"] == [[["lol"] * 10] * 10] * 10  # 2 levels: 110 nodes added

    def test_the_node_limit_comes_from_the_policy(self) -> None:
        budget = RenderBudget(RenderPolicy(max_alias_nodes=50))
        with pytest.raises(RenderError, match="expand to more than 50 nodes"):
            load_yaml(alias_bomb(2), "f.yaml", budget)
        assert load_yaml(alias_bomb(2), "f.yaml")  # 110 added nodes: fine by default

    def test_a_big_string_aliased_many_times_is_refused_by_bytes(self) -> None:
        text = HEADER.format(name="s") + "a: &big '" + "x" * 100_000 + "'\nb: [" + ", ".join(
            ["*big"] * 100) + "]\n"
        with pytest.raises(RenderError, match=r"f.yaml: document 1: YAML aliases expand to more "
                                              r"than 1000000 bytes"):
            load_yaml(text, "f.yaml", RenderBudget(RenderPolicy(max_file_bytes=1_000_000)))

    def test_a_recursive_alias_is_refused(self) -> None:
        with pytest.raises(RenderError, match="document 2: a YAML alias refers to itself"):
            load_yaml("a: 1\n---\n" + HEADER.format(name="r") + "loop: &r [*r]\n", "f.yaml")


class TestSizeLimits:
    def test_a_file_over_the_per_file_limit_is_refused_unread(self, tmp_path: Path) -> None:
        write(tmp_path / "app", {"big.yaml": HEADER.format(name="big") + "# " + "x" * 5000})
        with pytest.raises(RenderError, match=r"^app/big.yaml is 50\d\d bytes, more than the "
                                              r"limit of 4096 bytes per file"):
            render_dir(tmp_path, RenderPolicy(max_file_bytes=4096))

    def test_the_total_limit_counts_every_file(self, tmp_path: Path) -> None:
        write(tmp_path / "app", {f"f{i}.yaml": HEADER.format(name=f"f{i}") for i in range(20)})
        assert len(render_dir(tmp_path)) == 20
        with pytest.raises(RenderError, match=r"app/f\d+.yaml: the rendered manifests exceed 500 "
                                              r"bytes in total"):
            render_dir(tmp_path, RenderPolicy(max_total_bytes=500))

    def test_the_object_limit_counts_list_items(self, tmp_path: Path) -> None:
        items = "".join(f"- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}}}}}\n"
                        for i in range(30))
        write(tmp_path / "app", {"list.yaml": "apiVersion: v1\nkind: List\nitems:\n" + items})
        assert len(render_dir(tmp_path)) == 30
        with pytest.raises(RenderError, match=r"item: document 26: the render has more than 25 "
                                              r"objects"):
            render_dir(tmp_path, RenderPolicy(max_objects=25))

    def test_the_directory_walk_has_a_deadline(self, tmp_path: Path) -> None:
        write(tmp_path / "app", {f"d{i}/f.yaml": HEADER.format(name=f"f{i}") for i in range(5)})
        ticks = iter(range(100))
        budget = RenderBudget(RenderPolicy(timeout_seconds=3), clock=lambda: float(next(ticks)))
        with pytest.raises(RenderError, match="the render did not finish within 3 s"):
            render_directory(tmp_path / "app", tmp_path, recurse=True, budget=budget)

    def test_a_very_deep_directory_tree_is_walked_without_recursion(self, tmp_path: Path) -> None:
        levels = [tmp_path / "app"]
        for _ in range(1200):  # deeper than Python's recursion limit
            levels.append(levels[-1] / "d")
        try:
            for level in levels:
                level.mkdir()
            (levels[-1] / "x.yaml").write_text(HEADER.format(name="deep"))
            assert [o["metadata"]["name"] for o in render_dir(tmp_path, recurse=True)] == ["deep"]
        finally:
            # pytest's own clean-up (shutil.rmtree) recurses: leave no such tree behind.
            (levels[-1] / "x.yaml").unlink(missing_ok=True)
            for level in reversed(levels):
                if level.is_dir():
                    level.rmdir()


class TestNesting:
    def test_deep_yaml_names_the_file(self, tmp_path: Path) -> None:
        write(tmp_path / "app", {"deep.yaml": HEADER.format(name="d") + "data: "
                                 + "[" * 900 + "]" * 900 + "\n"})
        with pytest.raises(RenderError, match=r"^app/deep.yaml: document 1 is nested more than "
                                              r"200 levels deep"):
            render_dir(tmp_path)

    def test_yaml_deeper_than_libyaml_allows_names_the_file(self, tmp_path: Path) -> None:
        write(tmp_path / "app", {"deep.yaml": "a: " + "[" * 100_000 + "]" * 100_000 + "\n"})
        with pytest.raises(RenderError, match=r"^app/deep.yaml: line 1, column \d+: YAML syntax"):
            render_dir(tmp_path)

    @pytest.mark.parametrize("depth", [500, 100_000])
    def test_deep_json_names_the_file(self, tmp_path: Path, depth: int) -> None:
        body = '{"apiVersion": "v1", "kind": "C", "metadata": {"name": "x"}, "d": ' + (
            "[" * depth + "]" * depth + "}")
        write(tmp_path / "app", {"deep.json": body})
        with pytest.raises(RenderError, match=r"^app/deep.json: (cannot parse JSON: it is nested "
                                              r"too deeply|document 1 is nested more than 200)"):
            render_dir(tmp_path)

    def test_parsing_errors_never_escape_as_other_exceptions(self) -> None:
        with pytest.raises(RenderError, match=r"f\.json: cannot parse JSON"):
            load_json("[" * 100_000, "f.json")
        assert check_objects(load_json('{"apiVersion": "v1", "kind": "C", "metadata": '
                                       '{"name": "x"}}', "f.json"), "f.json")


class TestGlobs:
    def test_a_catastrophic_pattern_finishes_in_linear_time(self) -> None:
        glob = compile_glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", "directory.include")
        started = time.monotonic()
        assert glob.match("a" * 60) is False
        assert glob.match("a" * 4000) is False
        assert glob.match("a" * 59 + "b") is True
        assert time.monotonic() - started < 1

    def test_through_the_renderer(self, tmp_path: Path) -> None:
        name = "a" * 55 + ".yaml"
        write(tmp_path / "app", {name: HEADER.format(name="x")})
        started = time.monotonic()
        assert render_dir(tmp_path, include="*a*a*a*a*a*a*a*a*a*a*a*a*b") == []
        assert time.monotonic() - started < 1

    @pytest.mark.parametrize(("pattern", "complaint"), [
        ("[z-a].yaml", "the range 'z-a' is backwards"),
        ("{a,b", "unclosed '{'"),
        ("[!]", "empty '[]'"),
    ])
    def test_an_invalid_pattern_is_a_render_error(self, tmp_path: Path, pattern: str,
                                                  complaint: str) -> None:
        write(tmp_path / "app", {"a.yaml": HEADER.format(name="a")})
        with pytest.raises(RenderError, match=rf"directory.exclude .* is not a valid glob: "
                                              rf"{re.escape(complaint)}"):
            render_dir(tmp_path, exclude=pattern)

    def test_an_overlong_pattern_is_refused(self) -> None:
        with pytest.raises(RenderError, match=f"more than the limit of {MAX_GLOB_LENGTH}"):
            compile_glob("*" * (MAX_GLOB_LENGTH + 1), "directory.include")

    def test_same_answers_as_a_regular_expression_on_random_input(self) -> None:
        """The automaton against a regex reference (fine on these tiny inputs)."""
        parts = ["a", "b", "/", "*", "?", "[ab]", "[!a]", "[a-b]", "{a,b/}", "{,a*}"]
        regex = {"*": ".*", "?": ".", "[ab]": "[ab]", "[!a]": "[^a]", "[a-b]": "[a-b]",
                 "{a,b/}": "(?:a|b/)", "{,a*}": "(?:|a.*)"}
        rng = random.Random(11)
        for _ in range(400):
            chosen = [rng.choice(parts) for _ in range(rng.randint(1, 5))]
            pattern = "".join(chosen)
            reference = re.compile("".join(regex.get(p, re.escape(p)) for p in chosen) + r"\Z",
                                   re.DOTALL)
            glob = compile_glob(pattern)
            for _ in range(10):
                path = "".join(rng.choice("ab/c") for _ in range(rng.randint(0, 6)))
                assert glob.match(path) is bool(reference.match(path)), (pattern, path)


class TestKustomizeScan:
    """The pre-scan alone (no kubectl): what a kustomization may name."""

    def scan(self, root: Path, kustomization: str, policy: RenderPolicy | None = None,
             app: str = "apps/web") -> None:
        write(root, {f"{app}/kustomization.yaml": kustomization,
                     "apps/base/kustomization.yaml": "resources: [cm.yaml]\n",
                     "apps/base/cm.yaml": HEADER.format(name="base")})
        scan_kustomizations(root / app, root, RenderBudget(policy or RenderPolicy()))

    def test_a_base_elsewhere_in_the_repository_is_fine(self, tmp_path: Path) -> None:
        self.scan(tmp_path / "repo", "resources:\n- ../base\n")

    @pytest.mark.parametrize(("kustomization", "complaint"), [
        ("resources:\n- ../../../other-checkout/app\n",
         "resources entry '../../../other-checkout/app' leads outside the repository"),
        ("bases:\n- /etc\n", "bases entry '/etc' leads outside the repository"),
        ("components:\n- ../../../x\n", "components entry '../../../x' leads outside"),
        ("patches:\n- path: ../../../secret.yaml\n", "patches entry '../../../secret.yaml'"),
        ("patchesStrategicMerge:\n- ../../../p.yaml\n", "patchesStrategicMerge entry"),
        ("patchesJson6902:\n- path: /tmp/p.yaml\n  target: {kind: X}\n", "patchesJson6902 entry"),
        ("configMapGenerator:\n- name: c\n  files:\n  - key=../../../id_rsa\n",
         "configMapGenerator.files entry '../../../id_rsa' leads outside"),
        ("secretGenerator:\n- name: s\n  envs: [../../../.env]\n", "secretGenerator.envs entry"),
        ("crds:\n- ../../../crd.yaml\n", "crds entry"),
        ("openapi:\n  path: /etc/schema.json\n", "openapi.path entry '/etc/schema.json'"),
        ("resources:\n- file:///srv/git/repo.git//app?ref=main\n", "is a file:// base"),
        ("resources:\n- https://github.com/acme/app//deploy?ref=v1\n", "is a remote base"),
        ("resources:\n- github.com/acme/app/deploy\n", "is a remote base"),
        ("resources:\n- git@github.com:acme/app.git\n", "is a remote base"),
        ("resources:\n- ssh://git@example.com/acme/app.git\n", "is a remote base"),
        ("resources:\n- ../base?ref=main\n", "is a remote base"),
        ("patches:\n- path: https://example.com/p.yaml\n", "patches entry 'https://example.com/"),
        ("helmCharts:\n- name: x\n  repo: https://charts.example.com\n",
         "helmCharts is not supported"),
        ("transformers:\n- |\n  apiVersion: example.com/v1\n  kind: Exec\n",
         "transformers an inline configuration configures a kustomize plugin"),
    ])
    def test_refused_naming_the_file_and_the_entry(self, tmp_path: Path, kustomization: str,
                                                   complaint: str) -> None:
        with pytest.raises(RenderError) as caught:
            self.scan(tmp_path / "repo", kustomization)
        assert str(caught.value).startswith("apps/web/kustomization.yaml: ")
        assert complaint in str(caught.value)

    def test_inline_patches_are_not_mistaken_for_paths_or_urls(self, tmp_path: Path) -> None:
        self.scan(tmp_path / "repo", "patchesStrategicMerge:\n- '{\"apiVersion\": \"v1\", "
                  "\"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"x\", \"annotations\": "
                  "{\"docs\": \"https://example.com//a\"}}}'\n- |\n  apiVersion: v1\n"
                  "  kind: ConfigMap\n  metadata: {name: y}\n"
                  "patches:\n- patch: |-\n    - op: remove\n      path: /spec/x\n")

    def test_a_symlinked_kustomization_leading_out_is_refused(self, tmp_path: Path) -> None:
        root = tmp_path / "repo"
        write(tmp_path, {"outside/kustomization.yaml": "resources: []\n"})
        (root / "apps/web").mkdir(parents=True)
        (root / "apps/web/kustomization.yaml").symlink_to(tmp_path / "outside/kustomization.yaml")
        with pytest.raises(RenderError, match=r"^apps/web/kustomization\.yaml is a symlink to a "
                                              r"file outside the repository"):
            scan_kustomizations(root / "apps/web", root, RenderBudget())

    def test_a_base_of_a_base_is_scanned_too(self, tmp_path: Path) -> None:
        root = tmp_path / "repo"
        write(root, {"apps/mid/kustomization.yaml": "resources:\n- ../../../elsewhere\n"})
        with pytest.raises(RenderError, match=r"^apps/mid/kustomization.yaml: resources entry "
                                              r"'../../../elsewhere' leads outside"):
            self.scan(root, "resources:\n- ../mid\n")

    def test_a_symlink_leading_out_is_refused(self, tmp_path: Path) -> None:
        root = tmp_path / "repo"
        (tmp_path / "other").mkdir()
        root.mkdir()
        (root / "link").symlink_to(tmp_path / "other")
        with pytest.raises(RenderError, match=r"resources entry '\.\./\.\./link' leads outside"):
            self.scan(root, "resources:\n- ../../link\n")

    def test_a_plugin_configuration_file_is_refused_unless_builtin(self, tmp_path: Path) -> None:
        root = tmp_path / "repo"
        write(root, {"apps/web/prefix.yaml": "apiVersion: builtin\nkind: PrefixTransformer\n"
                     "metadata: {name: p}\nprefix: x-\n",
                     "apps/web/exec.yaml": "apiVersion: someteam.example.com/v1\nkind: Run\n"})
        self.scan(root, "transformers:\n- prefix.yaml\n")
        with pytest.raises(RenderError, match=r"configures a kustomize plugin \(apiVersion "
                                              r"someteam\.example\.com/v1, kind Run"):
            self.scan(root, "generators:\n- exec.yaml\n")

    def test_remote_bases_by_option_but_never_file_urls(self, tmp_path: Path) -> None:
        allow = RenderPolicy(allow_remote_bases=True)
        self.scan(tmp_path / "repo", "resources:\n- https://github.com/acme/app//deploy?ref=v1\n"
                  "- github.com/acme/app/deploy\n", allow)
        with pytest.raises(RenderError, match="is a file:// base"):
            self.scan(tmp_path / "repo", "resources:\n- git::file:///srv/repo.git\n", allow)

    def test_an_alias_bomb_in_a_kustomization_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match=r"apps/web/kustomization\.yaml: document 1: YAML "
                                              r"aliases expand"):
            self.scan(tmp_path / "repo", alias_bomb(6))


class TestToolEnvironment:
    def test_the_environment_is_an_allowlist(self, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ROLLOUTS_WEBHOOK_SECRET", "marker-4711")
        monkeypatch.setenv("HELM_PLUGINS", "/host/plugins")
        env = tools.environment(tmp_path)
        assert "marker-4711" not in repr(env)
        assert set(env) == {
            "PATH", "HOME", "TMPDIR", "LANG", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
            "XDG_DATA_HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME",
            "HELM_PLUGINS", "KUBECONFIG", "GIT_ALLOW_PROTOCOL", "GIT_CONFIG_NOSYSTEM",
            "GIT_CONFIG_GLOBAL", "GIT_TERMINAL_PROMPT", "GIT_SSH_COMMAND"}
        assert env["PATH"] == os.environ["PATH"]
        assert env["KUBECONFIG"] == os.devnull
        assert env["GIT_ALLOW_PROTOCOL"] == ""
        assert tools.environment(tmp_path, allow_remote_git=True)["GIT_ALLOW_PROTOCOL"] == (
            "https:ssh")
        for key in ("HOME", "TMPDIR", "HELM_CACHE_HOME", "HELM_PLUGINS", "XDG_CONFIG_HOME"):
            assert Path(env[key]).is_relative_to(tmp_path), key

    def test_run_tool_gives_the_process_exactly_that_environment(self, tmp_path: Path) -> None:
        env = tools.environment(tmp_path)
        printed = tools.run_tool(["/usr/bin/env", "-0"], what="env", env=env,
                                 budget=RenderBudget())
        seen = dict(item.split("=", 1) for item in printed.split("\0") if item)
        assert seen == env


def fake_tool(directory: Path, name: str, script: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the fake helm script's path, a chart directory in a checkout); real helm hidden."""
    monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path / "no-builds"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    write(tmp_path / "repo" / "chart", {"Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n"})
    return tmp_path / "bin", tmp_path / "repo"


def render_chart(root: Path, policy: RenderPolicy | None = None) -> list[dict[str, Any]]:
    return render(root, {"repoURL": "x", "path": "chart"}, app_name="a", namespace="n",
                  policy=policy or RenderPolicy())


class TestToolRuns:
    def test_helm_sees_none_of_the_controllers_variables(
        self, fake_helm: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        bin_dir, root = fake_helm
        # The fake helm prints its environment as the data of a ConfigMap.
        fake_tool(bin_dir, "helm", "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n"
                  "  name: env\\ndata:\\n'\n/usr/bin/env | while IFS='=' read -r k v; do "
                  "printf '  %s: \"%s\"\\n' \"$k\" \"$v\"; done\n")
        monkeypatch.setenv("ROLLOUTS_WEBHOOK_SECRET", "marker-4711")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "marker-4712")
        [configmap] = render_chart(root)
        seen = configmap["data"]
        assert "marker-4711" not in repr(seen) and "marker-4712" not in repr(seen)
        assert set(seen) - {"PWD", "SHLVL", "_"} == set(tools.environment(Path("/x")))
        assert seen["KUBECONFIG"] == os.devnull

    def test_a_tool_past_the_deadline_is_killed_with_its_children(
        self, fake_helm: tuple[Path, Path], tmp_path: Path
    ) -> None:
        bin_dir, root = fake_helm
        pid_file = tmp_path / "child.pid"
        fake_tool(bin_dir, "helm", f"sleep 300 &\necho $! > {pid_file}\nsleep 300\n")
        started = time.monotonic()
        with pytest.raises(RenderError, match=r"^helm template of chart did not finish within "
                                              r"1 s; the render was stopped"):
            render_chart(root, RenderPolicy(timeout_seconds=1))
        assert time.monotonic() - started < 10
        child = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)

    def test_too_much_output_stops_the_tool(self, fake_helm: tuple[Path, Path]) -> None:
        bin_dir, root = fake_helm
        fake_tool(bin_dir, "helm", "exec /usr/bin/yes 'apiVersion: v1'\n")
        with pytest.raises(RenderError, match=r"helm template of chart printed more than 100000 "
                                              r"bytes of manifests in total"):
            render_chart(root, RenderPolicy(max_total_bytes=100_000))

    def test_an_alias_bomb_in_helm_output_is_refused(self, fake_helm: tuple[Path, Path]) -> None:
        bin_dir, root = fake_helm
        fake_tool(bin_dir, "helm", "cat <<'EOF'\n---\n# Source: c/templates/bomb.yaml\n"
                  + alias_bomb(9) + "EOF\n")
        with pytest.raises(RenderError, match=r"^c/templates/bomb.yaml \(helm template of chart\):"
                                              r" document 1: YAML aliases expand"):
            render_chart(root)

    def test_tools_are_found_as_absolute_paths_only(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_tool(tmp_path / "rel", "helm", "exit 0\n")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path / "no-builds"))
        monkeypatch.setenv("PATH", "rel")
        with pytest.raises(tools.ToolNotFound):
            tools.helm()
        monkeypatch.setenv("PATH", str(tmp_path / "rel"))
        assert tools.helm() == tmp_path / "rel" / "helm"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only unreaped
