"""Plain directories: file selection (recurse, include, exclude), parsing, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.render import RenderError, render
from reconciler.render_directory import compile_glob


def manifest(name: str, kind: str = "ConfigMap") -> str:
    return f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)


def names(root: Path, **directory: Any) -> list[str]:
    source: dict[str, Any] = {"repoURL": "x", "path": "app"}
    if directory:
        source["directory"] = directory
    return [o["metadata"]["name"] for o in render(root, source, app_name="a", namespace="n")]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path / "app", {
        "a.yaml": manifest("a"), "b.yml": manifest("b"), "c.json": '{"apiVersion": "v1", '
        '"kind": "ConfigMap", "metadata": {"name": "c"}}', "README.md": "# not read",
        "config.json": '[{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cfg"}}]',
        "env-use2/d.yaml": manifest("d"), "env-usw2/e.yaml": manifest("e"),
        "env-usw2/deeper/f.yaml": manifest("f"), ".github/ci.yaml": "on: push\n",
    })
    return tmp_path


class TestFileSelection:
    def test_only_the_top_level_by_default_in_lexical_order(self, tree: Path) -> None:
        assert names(tree) == ["a", "b", "c", "cfg"]

    def test_recurse_walks_subdirectories_but_not_hidden_ones(self, tree: Path) -> None:
        # Walk order, as Go's filepath.Walk: `deeper/` sorts before `e.yaml`.
        assert names(tree, recurse=True) == ["a", "b", "c", "cfg", "d", "f", "e"]

    def test_include_star_yaml_matches_at_any_depth_as_in_argo_cd(self, tree: Path) -> None:
        # gobwas globs without separators: `*` also matches `/`.
        assert names(tree, recurse=True, include="*.yaml") == ["a", "d", "f", "e"]

    def test_include_alternatives(self, tree: Path) -> None:
        assert names(tree, include="{*.yml,*.yaml}") == ["a", "b"]

    def test_include_a_directory(self, tree: Path) -> None:
        assert names(tree, recurse=True, include="env-usw2/*") == ["f", "e"]

    def test_exclude_from_the_argo_cd_docs(self, tree: Path) -> None:
        assert names(tree, recurse=True, include="*.yaml",
                     exclude="{config.json,env-usw2/*}") == ["a", "d"]

    def test_exclude_alone(self, tree: Path) -> None:
        assert names(tree, exclude="config.json") == ["a", "b", "c"]

    def test_skip_file_rendering_marker(self, tree: Path) -> None:
        write(tree / "app", {"z.yaml": "# +argocd:skip-file-rendering\n" + manifest("z")})
        assert "z" not in names(tree)

    def test_jsonnet_is_refused_unless_excluded(self, tree: Path) -> None:
        write(tree / "app", {"lib.jsonnet": "{}"})
        with pytest.raises(RenderError, match=r"app/lib.jsonnet: Jsonnet is not implemented"):
            names(tree)
        assert names(tree, exclude="*.jsonnet") == ["a", "b", "c", "cfg"]

    def test_a_symlink_to_a_file_outside_the_checkout_is_refused(self, tmp_path: Path) -> None:
        write(tmp_path, {"outside.yaml": manifest("secret")})
        (tmp_path / "repo" / "app").mkdir(parents=True)
        (tmp_path / "repo" / "app" / "x.yaml").symlink_to(tmp_path / "outside.yaml")
        with pytest.raises(RenderError, match="symlink to a file outside the repository"):
            names(tmp_path / "repo")

    def test_a_symlink_inside_the_checkout_is_read(self, tmp_path: Path) -> None:
        write(tmp_path, {"shared/x.yaml": manifest("shared")})
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "x.yaml").symlink_to(tmp_path / "shared" / "x.yaml")
        assert names(tmp_path) == ["shared"]


class TestGlobs:
    @pytest.mark.parametrize(("pattern", "path", "matches"), [
        ("*.yaml", "a.yaml", True),
        ("*.yaml", "dir/a.yaml", True),
        ("*.yaml", "a.yml", False),
        ("a?.yaml", "ab.yaml", True),
        ("[ab].yaml", "b.yaml", True),
        ("[!ab].yaml", "b.yaml", False),
        ("[a-c].yaml", "c.yaml", True),
        ("{x,y/*}", "y/z.yaml", True),
        ("{x,y/*}", "x", True),
        ("{x,y/*}", "xx", False),
        ("{a,{b,c}}.yaml", "c.yaml", True),
        ("\\*.yaml", "*.yaml", True),
        ("\\*.yaml", "a.yaml", False),
        ("a.yaml", "a.yaml", True),
        ("a.yaml", "xa.yaml", False),
        ("**/a.yaml", "x/y/a.yaml", True),
    ])
    def test_argo_cd_glob_semantics(self, pattern: str, path: str, matches: bool) -> None:
        assert bool(compile_glob(pattern).match(path)) is matches

    @pytest.mark.parametrize("pattern", ["{a,b", "a}", "[ab"])
    def test_a_broken_pattern_names_the_field(self, pattern: str) -> None:
        with pytest.raises(RenderError, match=r"directory.include .* is not a valid glob"):
            compile_glob(pattern, "directory.include")


class TestParsing:
    def render_file(self, tmp_path: Path, name: str, text: str) -> list[dict[str, Any]]:
        write(tmp_path / "app", {name: text})
        return render(tmp_path, {"repoURL": "x", "path": "app"}, app_name="a", namespace="n")

    def test_multi_document_yaml_skips_empty_documents(self, tmp_path: Path) -> None:
        text = "---\n" + manifest("a") + "---\n---\n# only a comment\n---\n" + manifest("b")
        assert [o["metadata"]["name"] for o in self.render_file(tmp_path, "m.yaml", text)] == [
            "a", "b"]

    def test_kind_list_is_expanded(self, tmp_path: Path) -> None:
        text = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
                "  metadata: {name: one}\n- apiVersion: v1\n  kind: Secret\n"
                "  metadata: {name: two}\n")
        objects = self.render_file(tmp_path, "list.yaml", text)
        assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
            ("ConfigMap", "one"), ("Secret", "two")]

    def test_a_yaml_syntax_error_names_the_file_and_line(self, tmp_path: Path) -> None:
        text = manifest("a") + "data:\n  key: [unclosed\n  other: value\n"
        with pytest.raises(RenderError) as caught:
            self.render_file(tmp_path, "broken.yaml", text)
        message = str(caught.value)
        assert message.startswith("app/broken.yaml: line ")
        assert "YAML syntax error" in message
        assert "\n" not in message

    def test_a_tab_indentation_error_names_the_line(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match=r"app/tabs.yaml: line 5, column \d+: YAML syntax"):
            self.render_file(tmp_path, "tabs.yaml", manifest("a") + "\tlabels: {}\n")

    def test_a_json_syntax_error_names_the_file_and_line(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match=r"app/x.json: line 2, column \d+: JSON syntax"):
            self.render_file(tmp_path, "x.json", '{"apiVersion": "v1",\n "kind": }')

    @pytest.mark.parametrize(("text", "complaint"), [
        ("- a\n- b\n", "document 1 is a list, not a Kubernetes object"),
        ("just text\n", "document 1 is a string"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "has no apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n", "has no metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\n", "has no metadata"),
        (manifest("ok") + "---\napiVersion: v1\nmetadata: {name: y}\n",
         "document 2 (object) has no kind"),
    ])
    def test_anything_that_is_not_an_object_is_an_error_naming_the_document(
        self, tmp_path: Path, text: str, complaint: str
    ) -> None:
        with pytest.raises(RenderError, match=r"app/bad.yaml: ") as caught:
            self.render_file(tmp_path, "bad.yaml", text)
        assert complaint in str(caught.value)

    def test_a_bad_item_in_a_list_names_the_item(self, tmp_path: Path) -> None:
        text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
        with pytest.raises(RenderError, match=r"document 1 \(List\) item: document 1"):
            self.render_file(tmp_path, "list.yaml", text)

    def test_values_stay_as_kubernetes_would_read_them(self, tmp_path: Path) -> None:
        text = manifest("a") + "data:\n  date: 2024-01-01\n  when: 2024-01-01T10:00:00Z\n" \
            "  enabled: 'true'\n  1: one\n"
        [obj] = self.render_file(tmp_path, "v.yaml", text)
        assert obj["data"] == {"date": "2024-01-01", "when": "2024-01-01T10:00:00Z",
                               "enabled": "true", "1": "one"}

    def test_a_byte_order_mark_is_ignored(self, tmp_path: Path) -> None:
        assert len(self.render_file(tmp_path, "bom.yaml", "\ufeff" + manifest("a"))) == 1

    def test_an_empty_directory_renders_nothing(self, tmp_path: Path) -> None:
        (tmp_path / "app").mkdir()
        assert render(tmp_path, {"repoURL": "x", "path": "app"}, app_name="a",
                      namespace="n") == []
