"""Rendering the compat GitOps apps, choosing the renderer, and keeping inside the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler.render import RenderError, SourceType, app_directory, render, source_type
from rollouts.api.application import ApplicationSource
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


def summary(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"].get("name") or o["metadata"]["generateName"])
            for o in objects]


def render_app(path: str, **source: Any) -> list[dict[str, Any]]:
    return render(GITOPS_APPS, {"repoURL": "https://example.com/apps.git", "path": path, **source},
                  app_name=path, namespace="team-a")


class TestCompatApps:
    def test_guestbook_is_a_plain_directory(self) -> None:
        assert summary(render_app("guestbook")) == [
            ("Deployment", "guestbook-ui"), ("Service", "guestbook-ui"),
        ]

    @needs_kubectl
    def test_kustomize_guestbook_applies_its_name_prefix(self) -> None:
        assert sorted(summary(render_app("kustomize-guestbook"))) == [
            ("Deployment", "kustomize-guestbook-ui"), ("Service", "kustomize-guestbook-ui"),
        ]

    @needs_helm
    def test_helm_guestbook_is_named_after_the_app_and_gets_the_namespace(self) -> None:
        objects = render_app("helm-guestbook")
        assert sorted(summary(objects)) == [
            ("Deployment", "helm-guestbook"), ("Service", "helm-guestbook"),
        ]
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["metadata"]["labels"]["release"] == "helm-guestbook"

    def test_sync_waves_keeps_hooks_with_generate_name_and_file_order(self) -> None:
        objects = render_app("sync-waves")
        assert summary(objects) == [
            ("Job", "upgrade-sql-schema"), ("ReplicaSet", "backend"), ("Service", "backend"),
            ("Job", "maint-page-up"), ("ReplicaSet", "frontend"), ("Service", "frontend"),
            ("Job", "maint-page-down"),
        ]
        assert objects[3]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "1"

    @needs_kubectl
    def test_pre_post_sync_builds_on_a_base_elsewhere_in_the_repo(self) -> None:
        objects = render_app("pre-post-sync")
        assert sorted(summary(objects)) == [
            ("Deployment", "pre-post-sync-kustomize-guestbook-ui"),
            ("Job", "pre-post-sync-after"), ("Job", "pre-post-sync-before"),
            ("Service", "pre-post-sync-kustomize-guestbook-ui"),
        ]
        hooks = {o["metadata"]["name"]: o["metadata"]["annotations"]["argocd.argoproj.io/hook"]
                 for o in objects if o["kind"] == "Job"}
        assert hooks == {"pre-post-sync-before": "PreSync", "pre-post-sync-after": "PostSync"}

    def test_every_object_is_json_ready_and_has_no_namespace_filled_in(self) -> None:
        for obj in render_app("sync-waves"):
            assert "namespace" not in obj["metadata"]


class TestSourceType:
    def detect(self, path: str, **source: Any) -> SourceType:
        spec = ApplicationSource.model_validate({"repoURL": "x", "path": path, **source})
        return source_type(spec, GITOPS_APPS / path)

    def test_detected_from_the_files_in_the_app_path(self) -> None:
        assert self.detect("guestbook") is SourceType.DIRECTORY
        assert self.detect("kustomize-guestbook") is SourceType.KUSTOMIZE
        assert self.detect("helm-guestbook") is SourceType.HELM

    def test_a_configured_renderer_wins_over_detection(self) -> None:
        assert self.detect("guestbook", helm={}) is SourceType.HELM
        assert self.detect("helm-guestbook", directory={}) is SourceType.DIRECTORY

    def test_a_kustomization_beside_a_chart_means_kustomize_as_in_argo_cd(self, tmp_path: Path
                                                                           ) -> None:
        (tmp_path / "Chart.yaml").write_text("name: x\n")
        (tmp_path / "kustomization.yaml").write_text("resources: []\n")
        spec = ApplicationSource.model_validate({"repoURL": "x"})
        assert source_type(spec, tmp_path) is SourceType.KUSTOMIZE

    def test_two_configured_renderers_are_an_error(self) -> None:
        with pytest.raises(RenderError, match="configures Kustomize and Helm; choose one"):
            render_app("guestbook", kustomize={}, helm={})

    def test_a_directory_source_on_a_kustomize_app_fails_on_the_kustomization_file(self) -> None:
        with pytest.raises(RenderError, match=r"pre-post-sync/kustomization.yaml: document 1"):
            render_app("pre-post-sync", directory={})


class TestAppPath:
    @pytest.mark.parametrize("path", ["..", "../gitops-apps/..", "guestbook/../../x"])
    def test_escaping_the_checkout_is_refused(self, path: str) -> None:
        with pytest.raises(RenderError, match="leads outside the repository"):
            render_app(path)

    def test_a_symlinked_app_path_leading_out_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "repo").mkdir()
        (tmp_path / "repo" / "app").symlink_to(GITOPS_APPS / "guestbook")
        with pytest.raises(RenderError, match="leads outside the repository"):
            app_directory(tmp_path / "repo", "app")

    def test_a_leading_slash_means_the_repository_root(self) -> None:
        assert app_directory(GITOPS_APPS, "/guestbook") == (GITOPS_APPS / "guestbook").resolve()

    def test_empty_path_is_the_repository_root(self) -> None:
        assert app_directory(GITOPS_APPS, None) == GITOPS_APPS.resolve()
        assert app_directory(GITOPS_APPS, "") == GITOPS_APPS.resolve()

    def test_a_missing_path_or_a_file_is_reported(self) -> None:
        with pytest.raises(RenderError, match="'nope' does not exist"):
            render_app("nope")
        with pytest.raises(RenderError, match="is a file; it must be a directory"):
            render_app("guestbook/guestbook-ui-svc.yaml")

    def test_an_invalid_source_dict_names_the_field(self) -> None:
        with pytest.raises(RenderError, match=r"spec.source.directory.recurse"):
            render(GITOPS_APPS, {"repoURL": "x", "path": "guestbook",
                                 "directory": {"recurse": "yes"}},
                   app_name="a", namespace="n")
