"""ApplicationSet parameters as Argo CD names and prints them (reconciler.appset.params)."""

from __future__ import annotations

import pytest

from reconciler.appset.params import (
    combine_flat,
    deep_merge,
    flatten,
    go_string,
    matches_selector,
    normalize,
    path_params,
    selector_problem,
)


class TestNormalize:
    @pytest.mark.parametrize(("name", "expected"), [
        ("My_Cluster", "my-cluster"),
        ("-edge.", "edge"),
        ("prod/eu-west-1", "prod-eu-west-1"),
        ("a" * 300, "a" * 253),
    ])
    def test_as_argos_sanitize_name(self, name: str, expected: str) -> None:
        assert normalize(name) == expected


class TestGoString:
    """File parameters are printed as Go prints JSON-decoded values (float64 numbers)."""

    @pytest.mark.parametrize(("value", "printed"), [
        (True, "true"), (False, "false"), (None, "<nil>"), ("text", "text"),
        (3, "3"), (8080, "8080"), (100000, "100000"), (1000000, "1e+06"),
        (2.5, "2.5"), (0.0001, "0.0001"), (0.00001, "1e-05"), (1234567.0, "1.234567e+06"),
        (-7, "-7"), ([1, "a", True], "[1 a true]"), ({"b": 1, "a": "x"}, "map[a:x b:1]"),
    ])
    def test_printed_like_fmt_sprint(self, value: object, printed: str) -> None:
        assert go_string(value) == printed


def test_flatten_joins_maps_and_lists_with_dots() -> None:
    flat = flatten({"cluster": {"name": "eu", "port": 6443, "tags": ["a", "b"]}, "on": True})
    assert flat == {"cluster.name": "eu", "cluster.port": "6443", "cluster.tags.0": "a",
                    "cluster.tags.1": "b", "on": "true"}


class TestPathParams:
    def test_flat_names_of_a_directory(self) -> None:
        assert path_params("apps/team-a/Web_UI", go_template=False) == {
            "path": "apps/team-a/Web_UI", "path.basename": "Web_UI",
            "path.basenameNormalized": "web-ui", "path[0]": "apps", "path[1]": "team-a",
            "path[2]": "Web_UI"}

    def test_flat_names_of_a_file_with_a_prefix(self) -> None:
        params = path_params("clusters/eu", go_template=False, prefix="cfg",
                             filename="Config.JSON")
        assert params["cfg.path"] == "clusters/eu"
        assert params["cfg.path.filename"] == "Config.JSON"
        assert params["cfg.path.filenameNormalized"] == "config.json"
        assert params["cfg.path[1]"] == "eu"

    def test_go_template_names_nest_under_path(self) -> None:
        assert path_params("apps/web", go_template=True) == {"path": {
            "path": "apps/web", "basename": "web", "basenameNormalized": "web",
            "segments": ["apps", "web"]}}
        prefixed = path_params(".", go_template=True, prefix="p", filename="c.yaml")
        assert prefixed["p"]["path"]["filename"] == "c.yaml"
        assert prefixed["p"]["path"]["basename"] == "."


class TestSelector:
    PARAMS = {"env": "prod", "metadata": {"labels": {"tier": "gold"}}, "replicas": 3}

    def test_match_labels_over_flattened_params(self) -> None:
        assert matches_selector(self.PARAMS, {"matchLabels": {"metadata.labels.tier": "gold"}})
        assert matches_selector(self.PARAMS, {"matchLabels": {"replicas": "3"}})
        assert not matches_selector(self.PARAMS, {"matchLabels": {"env": "dev"}})

    @pytest.mark.parametrize(("expression", "matches"), [
        ({"key": "env", "operator": "In", "values": ["prod", "qa"]}, True),
        ({"key": "env", "operator": "NotIn", "values": ["prod"]}, False),
        ({"key": "missing", "operator": "NotIn", "values": ["x"]}, True),
        ({"key": "env", "operator": "Exists"}, True),
        ({"key": "env", "operator": "DoesNotExist"}, False),
        ({"key": "missing", "operator": "In", "values": ["x"]}, False),
    ])
    def test_match_expressions(self, expression: dict[str, object], matches: bool) -> None:
        assert matches_selector(self.PARAMS, {"matchExpressions": [expression]}) is matches

    def test_no_selector_matches_everything(self) -> None:
        assert matches_selector(self.PARAMS, None)
        assert matches_selector(self.PARAMS, {})

    @pytest.mark.parametrize(("selector", "fragment"), [
        ({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]},
         "operator: 'Like' is not one of"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "needs at least one value"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
         "takes no values"),
        ({"matchLabels": ["a"]}, "matchLabels: must be a map"),
        ("env=prod", "must be an object"),
    ])
    def test_a_bad_selector_is_named(self, selector: object, fragment: str) -> None:
        problem = selector_problem(selector, "spec.generators[0].selector")
        assert problem is not None and fragment in problem
        assert problem.startswith("spec.generators[0].selector")


class TestCombining:
    def test_flat_sets_join_when_they_agree(self) -> None:
        assert combine_flat({"a": "1", "b": "2"}, {"b": "2", "c": "3"}) == {
            "a": "1", "b": "2", "c": "3"}

    def test_flat_sets_that_disagree_are_an_error(self) -> None:
        with pytest.raises(ValueError, match="found duplicate key path with different value"):
            combine_flat({"path": "a"}, {"path": "b"})

    def test_deep_merge_lets_the_override_win_key_by_key(self) -> None:
        merged = deep_merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}, "c": 4})
        assert merged == {"a": {"x": 1, "y": 3}, "b": 1, "c": 4}
