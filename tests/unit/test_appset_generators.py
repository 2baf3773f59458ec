"""ApplicationSet generators: list, clusters, git, matrix, merge (reconciler.appset.generators).

Git generators read a directory tree standing in for a checkout (the controller's reader
is `GitSource`; `tests/integration/test_appset.py` uses a real repository). Templating of
values and of a matrix's second child is in test_appset_render.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.appset.generators import (
    GeneratorProblem,
    Sources,
    generate,
    requeue_seconds,
)
from reconciler.appset.spec import read_spec
from reconciler.clusters import read_clusters

TEMPLATE = {"metadata": {"name": "app"}, "spec": {"project": "default"}}


def spec(*generators: dict[str, Any], go: bool = False, **more: Any) -> Any:
    return read_spec({"generators": list(generators), "template": TEMPLATE,
                      "goTemplate": go, **more})


def params(*generators: dict[str, Any], go: bool = False,
           sources: Sources | None = None) -> list[dict[str, Any]]:
    return [p for g in generate(spec(*generators, go=go), sources or Sources()) for p in g.params]


class Tree:
    """A checkout on disk: `checkout` returns it for every repository and revision."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.asked: list[tuple[str, str]] = []
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)

    def checkout(self, repo_url: str, revision: str) -> Path:
        self.asked.append((repo_url, revision))
        return self.root


def secret(name: str, server: str, labels: dict[str, str] | None = None,
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"argocd.argoproj.io/secret-type": "cluster",
                                                   **(labels or {})},
                         "annotations": annotations or {}},
            "stringData": {"name": name, "server": server}}


# -- list -----------------------------------------------------------------------------------


class TestList:
    def test_each_element_is_a_parameter_set(self) -> None:
        assert params({"list": {"elements": [{"cluster": "dev", "url": "https://a"},
                                             {"cluster": "prod", "url": "https://b"}]}}) == [
            {"cluster": "dev", "url": "https://a"}, {"cluster": "prod", "url": "https://b"}]

    def test_flat_values_map_becomes_values_dot_key(self) -> None:
        assert params({"list": {"elements": [{"env": "qa", "values": {"tier": "gold"}}]}}) == [
            {"env": "qa", "values.tier": "gold"}]

    def test_flat_mode_wants_strings(self) -> None:
        with pytest.raises(GeneratorProblem, match=r"elements\[0\]\.replicas: must be a string"):
            params({"list": {"elements": [{"replicas": 3}]}})

    def test_go_template_takes_elements_as_they_are(self) -> None:
        assert params({"list": {"elements": [{"replicas": 3, "tags": ["a"]}]}}, go=True) == [
            {"replicas": 3, "tags": ["a"]}]

    def test_elements_yaml_adds_elements(self) -> None:
        got = params({"list": {"elements": [{"a": "1"}], "elementsYaml": "- a: '2'\n- a: '3'\n"}})
        assert [p["a"] for p in got] == ["1", "2", "3"]

    def test_elements_yaml_may_hold_a_star_in_a_value(self) -> None:
        got = params({"list": {"elementsYaml": '- host: "*.example.com"\n'}})
        assert got == [{"host": "*.example.com"}]

    def test_elements_yaml_deep_nesting_is_a_problem_not_a_crash(self) -> None:
        deep = "- a: " + "[" * 3000 + "]" * 3000 + "\n"
        with pytest.raises(GeneratorProblem, match=r"elementsYaml"):
            params({"list": {"elementsYaml": deep}}, go=True)

    def test_elements_yaml_alias_bombs_are_refused(self) -> None:
        bomb = "- {a: &a [x, x, x, x, x, x, x, x, x, x]}\n"
        for level in range(1, 8):
            aliases = ", ".join([f"*{chr(96 + level)}"] * 10)
            bomb += f"- {{{chr(97 + level)}: &{chr(97 + level)} [{aliases}]}}\n"
        with pytest.raises(GeneratorProblem, match=r"elementsYaml: document 1: .*alias"):
            params({"list": {"elementsYaml": bomb}}, go=True)

    def test_elements_yaml_syntax_errors_name_the_field(self) -> None:
        with pytest.raises(GeneratorProblem,
                           match=r"list\.elementsYaml: line 2, column 1: YAML syntax error"):
            params({"list": {"elementsYaml": "- [unclosed\n"}})


# -- clusters -------------------------------------------------------------------------------


class TestClusters:
    def sources(self) -> Sources:
        clusters, problems = read_clusters([
            secret("eu-1", "https://eu.example:6443", {"env": "prod"}, {"owner": "ops"}),
            secret("Dev_Cluster", "https://dev.example:6443", {"env": "dev"}),
        ])
        assert not problems
        return Sources(clusters=clusters)

    def test_without_selector_the_local_cluster_is_included(self) -> None:
        got = params({"clusters": {}}, sources=self.sources())
        assert [(p["name"], p["server"]) for p in got] == [
            ("in-cluster", "https://kubernetes.default.svc"),
            ("Dev_Cluster", "https://dev.example:6443"), ("eu-1", "https://eu.example:6443")]
        assert got[0] == {"name": "in-cluster", "nameNormalized": "in-cluster",
                          "server": "https://kubernetes.default.svc"}
        assert got[1]["nameNormalized"] == "dev-cluster"

    def test_a_selector_matches_secret_labels_and_never_the_local_cluster(self) -> None:
        got = params({"clusters": {"selector": {"matchLabels": {"env": "prod"}}}},
                     sources=self.sources())
        assert got == [{"name": "eu-1", "nameNormalized": "eu-1",
                        "server": "https://eu.example:6443", "project": "",
                        "metadata.annotations.owner": "ops",
                        "metadata.labels.argocd.argoproj.io/secret-type": "cluster",
                        "metadata.labels.env": "prod"}]

    def test_match_expressions(self) -> None:
        selector = {"matchExpressions": [{"key": "env", "operator": "NotIn",
                                          "values": ["prod"]}]}
        got = params({"clusters": {"selector": selector}}, sources=self.sources())
        assert [p["name"] for p in got] == ["Dev_Cluster"]

    def test_values_without_templates(self) -> None:
        got = params({"clusters": {"values": {"revision": "main"}}}, sources=self.sources())
        assert {p["values.revision"] for p in got} == {"main"}

    def test_go_template_nests_metadata(self) -> None:
        got = params({"clusters": {"selector": {"matchLabels": {"env": "dev"}}}}, go=True,
                     sources=self.sources())
        assert got[0]["metadata"]["labels"]["env"] == "dev"
        assert "annotations" not in got[0]["metadata"]


# -- git ------------------------------------------------------------------------------------


def git(**spec: Any) -> dict[str, Any]:
    return {"git": {"repoURL": "https://git.example/deploy.git", "revision": "main", **spec}}


class TestGitDirectories:
    @pytest.fixture
    def tree(self, tmp_path: Path) -> Tree:
        return Tree(tmp_path, {f"{d}/kustomization.yaml": "" for d in (
            "apps/web", "apps/api", "apps/legacy", "apps/web/overlays", ".github/workflows",
            "apps/.hidden", "other/x")})

    def test_star_stays_in_one_segment_and_exclude_wins(self, tree: Tree) -> None:
        got = params(git(directories=[{"path": "apps/legacy", "exclude": True},
                                      {"path": "apps/*"}]), sources=Sources(git=tree))
        assert [p["path"] for p in got] == ["apps/api", "apps/web"]
        assert tree.asked == [("https://git.example/deploy.git", "main")]

    def test_hidden_directories_and_what_is_below_are_skipped(self, tree: Tree) -> None:
        got = params(git(directories=[{"path": "*"}, {"path": "*/*"}]),
                     sources=Sources(git=tree))
        assert [p["path"] for p in got] == ["apps", "apps/api", "apps/legacy", "apps/web",
                                           "other", "other/x"]

    def test_path_parameters(self, tree: Tree) -> None:
        [web] = params(git(directories=[{"path": "apps/web"}]), sources=Sources(git=tree))
        assert web == {"path": "apps/web", "path.basename": "web",
                       "path.basenameNormalized": "web", "path[0]": "apps", "path[1]": "web"}
        [go] = params(git(directories=[{"path": "apps/web"}]), go=True,
                      sources=Sources(git=tree))
        assert go["path"]["segments"] == ["apps", "web"]

    def test_a_malformed_pattern_is_an_error_not_an_empty_match(self, tree: Tree) -> None:
        with pytest.raises(GeneratorProblem, match=r"directories: 'apps/\[' is not a valid"):
            params(git(directories=[{"path": "apps/["}]), sources=Sources(git=tree))

    def test_directories_and_files_together_are_refused(self, tree: Tree) -> None:
        with pytest.raises(GeneratorProblem, match="either directories or files"):
            params(git(directories=[{"path": "*"}], files=[{"path": "*"}]),
                   sources=Sources(git=tree))


class TestGitFiles:
    @pytest.fixture
    def tree(self, tmp_path: Path) -> Tree:
        return Tree(tmp_path, {
            "clusters/eu/config.json": json.dumps({"cluster": {"name": "eu", "port": 6443},
                                                   "enabled": True}),
            "clusters/us/east/config.json": json.dumps({"cluster": {"name": "us-east"}}),
            "clusters/us/config.yaml": "- cluster: {name: us-a}\n- cluster: {name: us-b}\n",
            "clusters/skip/config.json": json.dumps({"cluster": {"name": "skip"}}),
            "config.json": "{}",
        })

    def test_flat_parameters_and_path_of_each_file(self, tree: Tree) -> None:
        got = params(git(files=[{"path": "clusters/eu/config.json"}]), sources=Sources(git=tree))
        assert got == [{"cluster.name": "eu", "cluster.port": "6443", "enabled": "true",
                        "path": "clusters/eu", "path.basename": "eu",
                        "path.basenameNormalized": "eu", "path.filename": "config.json",
                        "path.filenameNormalized": "config.json", "path[0]": "clusters",
                        "path[1]": "eu"}]

    def test_star_crosses_slashes_like_git_ls_files_and_exclude_removes(self, tree: Tree) -> None:
        got = params(git(files=[{"path": "clusters/*.json"},
                                {"path": "clusters/skip/*", "exclude": True}]),
                     sources=Sources(git=tree))
        assert [p["cluster.name"] for p in got] == ["eu", "us-east"]

    def test_a_list_in_a_file_gives_one_set_per_object(self, tree: Tree) -> None:
        got = params(git(files=[{"path": "clusters/us/config.yaml"}]), go=True,
                     sources=Sources(git=tree))
        assert [p["cluster"]["name"] for p in got] == ["us-a", "us-b"]
        assert got[0]["path"]["filename"] == "config.yaml"

    def test_a_file_at_the_root(self, tree: Tree) -> None:
        [root] = params(git(files=[{"path": "config.json"}]), sources=Sources(git=tree))
        assert root["path"] == "." and root["path.filename"] == "config.json"

    def test_a_file_that_is_no_object_is_named(self, tmp_path: Path) -> None:
        tree = Tree(tmp_path, {"bad.yaml": "- 1\n- 2\n"})
        with pytest.raises(GeneratorProblem, match=r"bad\.yaml: must hold an object"):
            params(git(files=[{"path": "bad.yaml"}]), sources=Sources(git=tree))

    def test_an_alias_bomb_is_refused(self, tmp_path: Path) -> None:
        lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
        for level in "bcdefgh":
            previous = chr(ord(level) - 1)
            lines.append(f"{level}: &{level} [*{previous},*{previous},*{previous},*{previous},"
                         f"*{previous},*{previous},*{previous},*{previous},*{previous}]")
        tree = Tree(tmp_path, {"bomb.yaml": "\n".join(lines) + "\n"})
        with pytest.raises(GeneratorProblem, match=r"bomb\.yaml"):
            params(git(files=[{"path": "bomb.yaml"}]), sources=Sources(git=tree))


# -- matrix, merge, selector, templates -------------------------------------------------------


class TestMatrix:
    def test_every_pair_of_sets(self) -> None:
        got = params({"matrix": {"generators": [
            {"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}},
            {"list": {"elements": [{"app": "web"}, {"app": "api"}]}}]}})
        assert [(p["env"], p["app"]) for p in got] == [
            ("dev", "web"), ("dev", "api"), ("prod", "web"), ("prod", "api")]

    def test_flat_sets_that_disagree_are_refused(self) -> None:
        with pytest.raises(GeneratorProblem, match="duplicate key env with different value"):
            params({"matrix": {"generators": [{"list": {"elements": [{"env": "a"}]}},
                                              {"list": {"elements": [{"env": "b"}]}}]}})

    def test_exactly_two_children(self) -> None:
        with pytest.raises(GeneratorProblem, match="matrix supports exactly two"):
            params({"matrix": {"generators": [{"list": {"elements": [{"a": "1"}]}}]}})

    def test_a_child_selector_filters_it(self) -> None:
        got = params({"matrix": {"generators": [
            {"list": {"elements": [{"env": "dev"}, {"env": "prod"}]},
             "selector": {"matchLabels": {"env": "prod"}}},
            {"list": {"elements": [{"app": "web"}]}}]}})
        assert got == [{"env": "prod", "app": "web"}]

    def test_nesting_is_limited(self) -> None:
        leaf = {"list": {"elements": [{"a": "1"}]}}
        deep = {"matrix": {"generators": [leaf, {"matrix": {"generators": [
            leaf, {"matrix": {"generators": [leaf, leaf]}}]}}]}}
        with pytest.raises(GeneratorProblem, match="nest at most two levels"):
            params(deep)


class TestMerge:
    def test_later_sets_update_the_first_by_merge_keys(self) -> None:
        got = params({"merge": {"mergeKeys": ["server"], "generators": [
            {"list": {"elements": [{"server": "a", "tier": "base"},
                                   {"server": "b", "tier": "base"}]}},
            {"list": {"elements": [{"server": "b", "tier": "gold"},
                                   {"server": "z", "tier": "lost"}]}}]}})
        assert got == [{"server": "a", "tier": "base"}, {"server": "b", "tier": "gold"}]

    def test_duplicate_merge_keys_are_refused(self) -> None:
        with pytest.raises(GeneratorProblem, match="not unique by mergeKeys"):
            params({"merge": {"mergeKeys": ["server"], "generators": [
                {"list": {"elements": [{"server": "a"}, {"server": "a"}]}},
                {"list": {"elements": [{"server": "a"}]}}]}})

    def test_merge_keys_are_required(self) -> None:
        with pytest.raises(GeneratorProblem, match="mergeKeys: name at least one"):
            params({"merge": {"generators": [{"list": {"elements": []}},
                                             {"list": {"elements": []}}]}})


def test_a_top_level_selector_filters_after_generation() -> None:
    got = params({"list": {"elements": [{"env": "staging"}, {"env": "prod"}]},
                  "selector": {"matchLabels": {"env": "staging"}}})
    assert got == [{"env": "staging"}]


def test_a_generator_template_overrides_the_application_set_template() -> None:
    [generated] = generate(spec({"list": {"elements": [{"a": "1"}], "template": {
        "metadata": {"labels": {"from": "generator"}},
        "spec": {"project": "", "destination": {"namespace": "x"}}}}}), Sources())
    assert generated.template == {"metadata": {"name": "app", "labels": {"from": "generator"}},
                                  "spec": {"project": "default",
                                           "destination": {"namespace": "x"}}}


@pytest.mark.parametrize(("generator", "fragment"), [
    ({"pullRequest": {"github": {}}}, "pullRequest: this generator is not implemented"),
    ({"scmProvider": {}}, "scmProvider: this generator is not implemented"),
    ({"lists": {}}, "unknown generator 'lists'"),
    ({"selector": {}}, "names no generator"),
    ({"git": {"directories": [{"path": "*"}]}}, "git.repoURL: required"),
])
def test_unimplemented_or_unknown_generators_are_named(generator: dict[str, Any],
                                                       fragment: str) -> None:
    with pytest.raises(GeneratorProblem, match=r"spec\.generators\[0\]") as raised:
        params(generator)
    assert fragment in str(raised.value)


def test_requeue_follows_the_git_generators() -> None:
    listed: dict[str, Any] = {"list": {"elements": []}}
    assert requeue_seconds(spec(listed)) is None
    assert requeue_seconds(spec(listed, git(directories=[{"path": "*"}]))) == 180
    nested = {"matrix": {"generators": [listed, git(directories=[{"path": "*"}],
                                                    requeueAfterSeconds=30)]}}
    assert requeue_seconds(spec(nested, git(files=[{"path": "*"}]))) == 30
