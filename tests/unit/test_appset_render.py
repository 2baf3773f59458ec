"""Templating whole Applications from parameter sets (reconciler.appset.render), with
both engines, and the generator features that render (values, a matrix's second child)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.appset.generators import GeneratorProblem, Sources, generate
from reconciler.appset.render import (
    RESOURCES_FINALIZER,
    Engine,
    RenderedChars,
    TemplateProblem,
    application,
    render_tree,
)
from reconciler.appset.spec import read_spec
from reconciler.clusters import read_clusters

FAST = Engine()
GO = Engine(go_template=True)
STRICT = Engine(go_template=True, missing_key_error=True)

FLAT_TEMPLATE: dict[str, Any] = {
    "metadata": {"name": "{{cluster}}-guestbook",
                 "labels": {"env": "{{cluster}}", "{{cluster}}-team": "web"}},
    "spec": {"project": "default",
             "source": {"repoURL": "https://git.example/apps.git", "targetRevision": "HEAD",
                        "path": "envs/{{cluster}}"},
             "destination": {"server": "{{url}}", "namespace": "guestbook"},
             "syncPolicy": {"automated": {"prune": True}}},
}
GO_TEMPLATE: dict[str, Any] = {
    "metadata": {"name": "{{.path.basename}}"},
    "spec": {"project": "default",
             "source": {"repoURL": "https://git.example/apps.git", "path": "{{.path.path}}"},
             "destination": {"server": "https://kubernetes.default.svc",
                             "namespace": "{{ .path.basename | upper | lower }}"}},
}


class TestWholeApplication:
    def test_fasttemplate_renders_every_string_and_key(self) -> None:
        params = {"cluster": "dev", "url": "https://dev.example:6443"}
        got = application(FLAT_TEMPLATE, params, FAST, namespace="argocd",
                          preserve_resources=False)
        assert got == {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "dev-guestbook", "namespace": "argocd",
                         "labels": {"env": "dev", "dev-team": "web"},
                         "finalizers": [RESOURCES_FINALIZER]},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example/apps.git",
                                "targetRevision": "HEAD", "path": "envs/dev"},
                     "destination": {"server": "https://dev.example:6443",
                                     "namespace": "guestbook"},
                     "syncPolicy": {"automated": {"prune": True}}}}

    def test_fasttemplate_leaves_unknown_parameters_as_written(self) -> None:
        got = application(FLAT_TEMPLATE, {"cluster": "dev"}, FAST, namespace="argocd",
                          preserve_resources=True)
        assert got["spec"]["destination"]["server"] == "{{url}}"
        assert "finalizers" not in got["metadata"]  # preserveResourcesOnDeletion: true

    def test_go_template_over_nested_parameters(self) -> None:
        params = {"path": {"path": "apps/web", "basename": "web", "segments": ["apps", "web"]}}
        got = application(GO_TEMPLATE, params, GO, namespace="argocd",
                          preserve_resources=False)
        assert got["metadata"]["name"] == "web"
        assert got["spec"]["source"]["path"] == "apps/web"
        assert got["spec"]["destination"]["namespace"] == "web"

    def test_missingkey_error_names_the_field(self) -> None:
        reason = r"^template\.spec\.source\.path:\d+:\d+: .*no entry for key \"path\""
        with pytest.raises(TemplateProblem, match=reason):
            application(GO_TEMPLATE, {"path": {"basename": "web"}}, STRICT,
                        namespace="argocd", preserve_resources=False)

    def test_without_missingkey_error_go_prints_no_value(self) -> None:
        got = application(GO_TEMPLATE, {"path": {"basename": "web"}}, GO,
                          namespace="argocd", preserve_resources=False)
        assert got["spec"]["source"]["path"] == "<no value>"

    def test_a_template_that_does_not_parse_is_named(self) -> None:
        broken = {**GO_TEMPLATE, "metadata": {"name": "{{ .path.basename "}}
        with pytest.raises(TemplateProblem, match=r"^template\.metadata\.name:"):
            application(broken, {"path": {"basename": "web"}}, GO, namespace="argocd",
                        preserve_resources=False)

    def test_the_finalizer_of_the_template_wins(self) -> None:
        template = {**FLAT_TEMPLATE, "metadata": {**FLAT_TEMPLATE["metadata"],
                                                  "finalizers": ["example.com/keep"]}}
        got = application(template, {"cluster": "dev", "url": "u"}, FAST, namespace="argocd",
                          preserve_resources=False)
        assert got["metadata"]["finalizers"] == ["example.com/keep"]

    def test_an_empty_name_or_another_namespace_is_refused(self) -> None:
        with pytest.raises(TemplateProblem, match="renders to an empty name"):
            application({"metadata": {"name": "{{.n}}"}, "spec": {}}, {"n": ""}, GO,
                        namespace="argocd", preserve_resources=False)
        with pytest.raises(TemplateProblem, match="not the ApplicationSet's namespace"):
            application({"metadata": {"name": "a", "namespace": "other"}, "spec": {}},
                        {"a": "1"}, FAST, namespace="argocd", preserve_resources=False)

    def test_numbers_and_booleans_are_not_templated(self) -> None:
        tree = {"replicas": 3, "on": True, "list": ["{{a}}", 1]}
        assert render_tree(tree, {"a": "x"}, FAST, "t") == {"replicas": 3, "on": True,
                                                           "list": ["x", 1]}


def _generate(raw: dict[str, Any], sources: Sources | None = None) -> list[dict[str, Any]]:
    spec = read_spec({"template": FLAT_TEMPLATE, **raw})
    return [p for g in generate(spec, sources or Sources()) for p in g.params]


class TestRenderingGenerators:
    def test_cluster_values_are_templated_with_the_cluster(self) -> None:
        clusters, _ = read_clusters([{
            "metadata": {"name": "eu", "labels": {"argocd.argoproj.io/secret-type": "cluster",
                                                  "region": "eu-west"}},
            "stringData": {"name": "eu", "server": "https://eu:6443"}}])
        got = _generate({"generators": [{"clusters": {
            "selector": {"matchLabels": {"region": "eu-west"}},
            "values": {"revision": "release-{{metadata.labels.region}}"}}}]},
            Sources(clusters=clusters))
        assert got[0]["values.revision"] == "release-eu-west"

    def test_the_second_matrix_child_uses_the_first_childs_parameters(
            self, tmp_path: Path) -> None:
        for directory in ("apps/web", "apps/api", "other/x"):
            (tmp_path / directory).mkdir(parents=True)

        class Reader:
            def checkout(self, repo_url: str, revision: str) -> Path:
                assert revision == "release-1"
                return tmp_path

        got = _generate({"generators": [{"matrix": {"generators": [
            {"list": {"elements": [{"dir": "apps", "rev": "release-1"}]}},
            {"git": {"repoURL": "https://git.example/x.git", "revision": "{{rev}}",
                     "directories": [{"path": "{{dir}}/*"}]}}]}}]},
            Sources(git=Reader()))
        assert [(p["dir"], p["path"]) for p in got] == [("apps", "apps/api"),
                                                       ("apps", "apps/web")]

    def test_a_missing_key_in_a_matrix_child_is_a_generator_problem(self) -> None:
        with pytest.raises(GeneratorProblem, match=r"generators\[1\]"):
            generate(read_spec({
                "goTemplate": True, "goTemplateOptions": ["missingkey=error"],
                "template": GO_TEMPLATE,
                "generators": [{"matrix": {"generators": [
                    {"list": {"elements": [{"a": "1"}]}},
                    {"list": {"elements": [{"b": "{{.nope}}"}]}}]}}]}), Sources())


class TestRenderBudget:
    BIG = '{{ repeat 900000 "x" }}'

    def test_one_application_may_not_render_more_than_the_api_server_keeps(self) -> None:
        template = {"metadata": {"name": "{{.name}}",
                                 "annotations": {"a": self.BIG, "b": self.BIG}},
                    "spec": {"project": "default"}}
        with pytest.raises(TemplateProblem, match=r"more than 1572864 characters"):
            application(template, {"name": "big"}, Engine(go_template=True),
                        namespace="argocd", preserve_resources=False)

    def test_one_engine_counts_every_field_of_every_application(self) -> None:
        engine = Engine(go_template=True, rendered=RenderedChars(limit=2_000_000))
        template = {"metadata": {"name": "{{.name}}", "annotations": {"a": self.BIG}},
                    "spec": {"project": "default"}}
        application(template, {"name": "one"}, engine, namespace="argocd",
                    preserve_resources=False)
        application(template, {"name": "two"}, engine, namespace="argocd",
                    preserve_resources=False)
        with pytest.raises(TemplateProblem, match=r"more than 2000000 characters in all"):
            application(template, {"name": "three"}, engine, namespace="argocd",
                        preserve_resources=False)

    def test_a_fresh_engine_per_spec_and_the_generators_share_its_budget(self) -> None:
        spec = read_spec({"goTemplate": True,
                          "generators": [{"clusters": {"values": {"big": self.BIG}}}],
                          "template": {"metadata": {"name": "x"}, "spec": {}}})
        assert spec.engine is not spec.engine  # one budget per reconcile
        local = Sources(clusters=read_clusters([])[0])
        engine = Engine(go_template=True, rendered=RenderedChars(limit=500_000))
        with pytest.raises(GeneratorProblem, match=r"characters in all"):
            generate(spec, local, engine)
        assert len(generate(spec, local, spec.engine)[0].params) == 1
