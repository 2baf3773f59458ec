"""Kustomize and Helm sources: Argo CD's options, tool failures, and finding the tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler import tools
from reconciler.render import RenderError, render
from reconciler.render_helm import escape_set_value
from reconciler.render_kustomize import parse_image
from rollouts.devcluster.versions import HELM, KUBERNETES, cache_dir

GITOPS_APPS = Path(__file__).resolve().parents[2].parent / "shared/compat/gitops-apps"

needs_kubectl = pytest.mark.skipif(
    not KUBERNETES.built(cache_dir()) and shutil.which("kubectl") is None,
    reason="kubectl (kustomize) is not built yet: run `rollouts dev build`",
)
needs_helm = pytest.mark.skipif(
    not HELM.built(cache_dir()) and shutil.which("helm") is None,
    reason="helm is not built yet: run `rollouts dev build --all` (CI builds it)",
)


def render_app(root: Path, path: str, **source: Any) -> list[dict[str, Any]]:
    return render(root, {"repoURL": "x", "path": path, **source}, app_name="guestbook",
                  namespace="team-a")


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch copy of the compat apps, for tests that add files."""
    shutil.copytree(GITOPS_APPS, tmp_path / "repo")
    return tmp_path / "repo"


class TestImageOverrides:
    @pytest.mark.parametrize(("spec", "entry"), [
        ("nginx:1.25", {"name": "nginx", "newTag": "1.25"}),
        ("registry:5000/team/app:v2", {"name": "registry:5000/team/app", "newTag": "v2"}),
        ("registry:5000/team/app", {"name": "registry:5000/team/app"}),
        ("app@sha256:abc", {"name": "app", "digest": "sha256:abc"}),
        ("nginx=mirror.local/nginx:1.25",
         {"name": "nginx", "newName": "mirror.local/nginx", "newTag": "1.25"}),
        ("nginx=mirror.local/nginx", {"name": "nginx", "newName": "mirror.local/nginx"}),
    ])
    def test_argo_cd_image_strings(self, spec: str, entry: dict[str, str]) -> None:
        assert parse_image(spec) == entry

    def test_an_empty_override_is_refused(self) -> None:
        with pytest.raises(RenderError, match="names no image"):
            parse_image("=")


@needs_kubectl
class TestKustomizeOptions:
    def test_name_prefix_replaces_the_kustomization_prefix_as_argo_cd_does(self) -> None:
        objects = render_app(GITOPS_APPS, "kustomize-guestbook",
                             kustomize={"namePrefix": "blue-", "nameSuffix": "-v2"})
        assert {o["metadata"]["name"] for o in objects} == {"blue-guestbook-ui-v2"}

    def test_images_labels_annotations_and_namespace(self) -> None:
        objects = render_app(GITOPS_APPS, "kustomize-guestbook", kustomize={
            "images": ["gcr.io/google-samples/gb-frontend:v6"],
            "commonLabels": {"team": "a"}, "commonAnnotations": {"owner": "me"},
            "namespace": "elsewhere",
        })
        deployment = by_kind(objects, "Deployment")
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
            "gcr.io/google-samples/gb-frontend:v6")
        assert deployment["metadata"]["labels"] == {"team": "a"}
        assert deployment["metadata"]["annotations"] == {"owner": "me"}
        assert deployment["spec"]["selector"]["matchLabels"]["team"] == "a"
        assert {o["metadata"]["namespace"] for o in objects} == {"elsewhere"}

    def test_image_rename_merges_with_the_kustomization_images(self, repo: Path) -> None:
        app = repo / "kustomize-guestbook"
        kustomization = app / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text() + "images:\n"
                                 "- name: gcr.io/google-samples/gb-frontend\n  newTag: v7\n")
        objects = render_app(repo, "kustomize-guestbook", kustomize={
            "images": ["gcr.io/google-samples/gb-frontend=mirror.local/gb"]})
        image = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        assert image["image"] == "mirror.local/gb:v7"

    def test_the_checkout_is_never_modified(self, repo: Path) -> None:
        kustomization = repo / "kustomize-guestbook" / "kustomization.yaml"
        before = kustomization.read_text()
        render_app(repo, "kustomize-guestbook", kustomize={"namePrefix": "x-"})
        assert kustomization.read_text() == before

    def test_without_a_kustomization_file_it_says_what_to_add(self) -> None:
        with pytest.raises(RenderError, match=r"guestbook: no kustomization.yaml"):
            render_app(GITOPS_APPS, "guestbook", kustomize={})

    def test_a_kustomize_failure_names_the_app_and_gives_the_reason(self, repo: Path) -> None:
        (repo / "kustomize-guestbook" / "kustomization.yaml").write_text(
            "resources:\n- missing.yaml\n")
        with pytest.raises(RenderError) as caught:
            render_app(repo, "kustomize-guestbook")
        message = str(caught.value)
        assert message.startswith("kustomize build of kustomize-guestbook failed: ")
        assert "missing.yaml" in message
        assert "\n" not in message


@needs_helm
class TestHelmOptions:
    def test_value_files_inline_values_and_release_name(self) -> None:
        objects = render_app(GITOPS_APPS, "helm-guestbook", helm={
            "releaseName": "prod", "valueFiles": ["values-production.yaml"],
            "values": "replicaCount: 3\n",
        })
        assert by_kind(objects, "Service")["spec"]["type"] == "LoadBalancer"
        assert by_kind(objects, "Deployment")["spec"]["replicas"] == 3
        assert by_kind(objects, "Deployment")["metadata"]["name"] == "prod-helm-guestbook"

    def test_precedence_parameters_over_values_object_over_values(self) -> None:
        objects = render_app(GITOPS_APPS, "helm-guestbook", helm={
            "values": "replicaCount: 2\nservice: {port: 81}\n",
            "valuesObject": {"replicaCount": 4},
            "parameters": [{"name": "service.port", "value": "8080"}],
        })
        assert by_kind(objects, "Deployment")["spec"]["replicas"] == 4  # valuesObject wins
        assert by_kind(objects, "Service")["spec"]["ports"][0]["port"] == 8080

    def test_force_string_passes_the_value_as_a_string(self) -> None:
        objects = render_app(GITOPS_APPS, "helm-guestbook", helm={"parameters": [
            {"name": "image.tag", "value": "1.10", "forceString": True},
            {"name": "replicaCount", "value": "2"},
        ]})
        deployment = by_kind(objects, "Deployment")
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.10")
        assert deployment["spec"]["replicas"] == 2

    def test_a_value_file_elsewhere_in_the_repo_is_allowed(self, repo: Path) -> None:
        (repo / "shared-values.yaml").write_text("replicaCount: 5\n")
        objects = render_app(repo, "helm-guestbook", helm={"valueFiles": ["../shared-values.yaml"]})
        assert by_kind(objects, "Deployment")["spec"]["replicas"] == 5

    @pytest.mark.parametrize(("value_file", "complaint"), [
        ("../../../etc/passwd", "points outside the repository"),
        ("missing.yaml", "does not exist"),
        ("https://example.com/values.yaml", "URLs are not supported"),
    ])
    def test_bad_value_files_are_refused(self, value_file: str, complaint: str) -> None:
        with pytest.raises(RenderError, match=complaint):
            render_app(GITOPS_APPS, "helm-guestbook", helm={"valueFiles": [value_file]})

    def test_a_template_error_names_the_chart_and_gives_helms_reason(self, repo: Path) -> None:
        (repo / "helm-guestbook" / "templates" / "broken.yaml").write_text("{{ .Values.x.y.z }}\n")
        with pytest.raises(RenderError) as caught:
            render_app(repo, "helm-guestbook")
        message = str(caught.value)
        assert message.startswith("helm template of helm-guestbook failed: Error: ")
        assert "broken.yaml" in message

    def test_a_template_rendering_a_bad_object_names_the_template(self, repo: Path) -> None:
        (repo / "helm-guestbook" / "templates" / "nameless.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n")
        with pytest.raises(RenderError, match=r"helm-guestbook/templates/nameless.yaml \(helm "
                                              r"template of helm-guestbook\): document 1"):
            render_app(repo, "helm-guestbook")

    def test_helm_settings_on_the_host_do_not_leak_in(self, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "does-not-matter"))
        assert len(render_app(GITOPS_APPS, "helm-guestbook")) == 2
        assert not (tmp_path / "does-not-matter").exists()


class TestSetEscaping:
    @pytest.mark.parametrize(("value", "escaped"), [
        ("a,b", "a\\,b"), ("a\\,b", "a\\,b"), ("{a,b}", "{a,b}"), ("plain", "plain"),
    ])
    def test_commas_are_escaped_except_in_lists(self, value: str, escaped: str) -> None:
        assert escape_set_value(value) == escaped


class TestFindingTools:
    def test_our_build_is_preferred(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path))
        built = HELM.directory(tmp_path)
        built.mkdir(parents=True)
        (built / "helm").write_text("#!/bin/sh\n")
        (built / "helm").chmod(0o755)
        (built / ".done").touch()
        assert tools.helm() == built / "helm"

    def test_path_is_the_fallback_and_absence_says_how_to_build(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path / "empty"))
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(tools.ToolNotFound, match=r"rollouts dev build --all"):
            tools.helm()
        (tmp_path / "helm").write_text("#!/bin/sh\n")
        (tmp_path / "helm").chmod(0o755)
        assert tools.helm() == tmp_path / "helm"

    def test_a_missing_tool_is_a_render_error(self, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ROLLOUTS_CACHE", str(tmp_path))
        monkeypatch.setenv("PATH", os.devnull)
        with pytest.raises(RenderError, match="cannot render the Helm chart helm-guestbook: helm "
                                              "is not available"):
            render_app(GITOPS_APPS, "helm-guestbook")
