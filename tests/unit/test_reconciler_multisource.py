"""Multi-source Applications (`spec.sources`): the spec's rules, `$ref` value files kept
inside their checkout, revisions recorded as Argo CD's lists, and `AppSources` polling
and rendering every source (a fake Git source; Helm is the real one when built)."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.app_source import AppSources
from reconciler.app_status import Observation, build_status
from reconciler.multisource import (
    join_revisions,
    recorded_revision,
    revision_fields,
    shown_revision,
    sources_of,
    split_revisions,
)
from reconciler.operation import append_history, decide_auto_sync, start_operation
from reconciler.project_gate import spec_problem
from reconciler.render import RenderError
from reconciler.render_helm import value_file
from reconciler.source import Checkout, Credentials, GitSource, SourceError
from reconciler.sync import hook_name
from reconciler.syncplan_annotations import SyncPhase
from rollouts.api import AppProject, check_object, parse_object
from rollouts.api.application import Application
from rollouts.api.phases import SyncStatusCode
from rollouts.api.rules_application import split_ref_value_file
from rollouts.cli import app_view as view
from rollouts.devcluster.versions import HELM, cache_dir

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHA_A, SHA_B = "a" * 40, "b" * 40
CHART_REPO, VALUES_REPO = "https://git.example.com/chart.git", "https://git.example.com/values.git"

needs_helm = pytest.mark.skipif(
    not HELM.built(cache_dir()) and shutil.which("helm") is None,
    reason="helm is not built yet: run `rollouts dev build --all` (CI builds it)",
)


def manifest(sources: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    destination = {"server": "https://kubernetes.default.svc", "namespace": "web"}
    body: dict[str, Any] = {"project": "default", "destination": destination, **spec}
    if sources is not None:
        body["sources"] = sources
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "apps"}, "spec": body}


def app(sources: list[dict[str, Any]], **spec: Any) -> Application:
    return Application.model_validate(manifest(sources, **spec))


def problems(raw: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in check_object(raw).errors]


CHART_WITH_VALUES: list[dict[str, Any]] = [
    {"repoURL": CHART_REPO, "path": "chart", "targetRevision": "main",
     "helm": {"valueFiles": ["$values/env/prod.yaml"]}},
    {"repoURL": VALUES_REPO, "targetRevision": "main", "ref": "values"},
]


class TestSpecRules:
    def test_chart_with_values_from_a_ref_source_is_valid(self) -> None:
        assert problems(manifest(CHART_WITH_VALUES)) == []
        assert [s.repo_url for s in sources_of(app(CHART_WITH_VALUES))] == [CHART_REPO,
                                                                          VALUES_REPO]

    def test_source_and_sources_together_are_refused(self) -> None:
        both = manifest(CHART_WITH_VALUES, source={"repoURL": CHART_REPO, "path": "."})
        assert any("set source or sources, not both" in p for p in problems(both))

    def test_neither_is_refused(self) -> None:
        assert any("required" in p for p in problems(manifest()))

    def test_a_source_without_path_needs_a_ref(self) -> None:
        found = problems(manifest([{"repoURL": VALUES_REPO}]))
        assert any("spec.sources[0].path" in p and "required" in p for p in found)

    def test_refs_are_unique_and_never_charts(self) -> None:
        found = problems(manifest([
            {"repoURL": VALUES_REPO, "ref": "values"},
            {"repoURL": VALUES_REPO, "ref": "values"},
            {"repoURL": "https://charts.example.com", "chart": "web", "ref": "chart"},
        ]))
        assert any("give each ref a unique name" in p for p in found)
        assert any("cannot have chart" in p for p in found)

    def test_a_value_file_naming_an_unknown_ref_is_refused(self) -> None:
        found = problems(manifest([
            {"repoURL": CHART_REPO, "path": "chart",
             "helm": {"valueFiles": ["$other/prod.yaml", "$nopath"]}},
            {"repoURL": VALUES_REPO, "ref": "values"},
        ]))
        assert any("names $other, but no source has ref: other" in p for p in found)
        assert any("write $<ref>/<path in that repository>" in p for p in found)


class TestRefValueFiles:
    def test_a_ref_value_file_is_read_once_for_lint_and_render(self) -> None:
        assert split_ref_value_file("$values/env/prod.yaml") == ("values", "env/prod.yaml")
        assert split_ref_value_file("values-prod.yaml") is None
        with pytest.raises(ValueError, match=r"^write \$<ref>/<path in that repository>$"):
            split_ref_value_file("$nopath")

    def test_a_file_inside_the_ref_checkout_is_found(self, tmp_path: Path) -> None:
        (tmp_path / "env").mkdir()
        (tmp_path / "env" / "prod.yaml").write_text("replicas: 3\n")
        assert value_file(tmp_path, tmp_path, "$values/env/prod.yaml", {"values": tmp_path}
                          ) == (tmp_path / "env" / "prod.yaml").resolve()

    def test_dot_dot_out_of_the_checkout_is_refused(self, tmp_path: Path) -> None:
        checkout = tmp_path / "checkout"
        checkout.mkdir()
        (tmp_path / "secret.yaml").write_text("x: 1\n")
        with pytest.raises(RenderError, match="points outside the repository of ref values"):
            value_file(checkout, checkout, "$values/../secret.yaml", {"values": checkout})

    def test_a_symlink_out_of_the_checkout_is_refused(self, tmp_path: Path) -> None:
        checkout = tmp_path / "checkout"
        checkout.mkdir()
        (tmp_path / "secret.yaml").write_text("x: 1\n")
        os.symlink(tmp_path / "secret.yaml", checkout / "prod.yaml")
        with pytest.raises(RenderError, match="points outside"):
            value_file(checkout, checkout, "$values/prod.yaml", {"values": checkout})

    def test_an_unknown_ref_or_missing_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match=r"'\$other/prod.yaml': no source has ref: other"):
            value_file(tmp_path, tmp_path, "$other/prod.yaml", {"values": tmp_path})
        with pytest.raises(RenderError, match=r"'\$nopath': write \$<ref>/"):
            value_file(tmp_path, tmp_path, "$nopath", {"values": tmp_path})
        with pytest.raises(RenderError, match="does not exist"):
            value_file(tmp_path, tmp_path, "$values/missing.yaml", {"values": tmp_path})


class TestRevisionRecords:
    def test_revisions_join_and_split_in_source_order(self) -> None:
        joined = join_revisions([SHA_A, "1.2.3"])
        assert split_revisions(joined, 2) == [SHA_A, "1.2.3"]
        with pytest.raises(ValueError):
            split_revisions(joined, 3)
        with pytest.raises(ValueError):
            join_revisions(["a\nb"])

    def test_a_chart_constraint_with_a_comma_is_one_revision(self) -> None:
        # Masterminds constraints use "," for "and": it must not split the set.
        requested = {"revisions": [">=1.0, <2.0", "main"]}
        joined = recorded_revision(requested)
        assert split_revisions(joined, 2) == [">=1.0, <2.0", "main"]
        assert join_revisions([">=1.0, <2.0", "main"]) == joined
        assert revision_fields(joined, multiple=True) == requested
        state = start_operation({"sync": requested}, revision=joined, source=None, now=NOW,
                                sources=[{"repoURL": CHART_REPO}, {"repoURL": VALUES_REPO}])
        assert state["syncResult"]["revisions"] == [">=1.0, <2.0", "main"]
        assert shown_revision(joined) == ">=1.0, <2.0; main"

    def test_a_hook_name_from_a_revision_set_is_a_valid_name(self) -> None:
        name = hook_name({"metadata": {"generateName": "migrate-"}}, SyncPhase.PRE_SYNC,
                         "ab12", join_revisions(["1.2+b", SHA_A]))
        assert re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", name), name

    def test_a_multi_source_record_has_argo_cds_lists(self) -> None:
        joined = join_revisions([SHA_A, SHA_B])
        assert revision_fields(joined, multiple=True) == {"revisions": [SHA_A, SHA_B]}
        assert revision_fields(SHA_A, multiple=False) == {"revision": SHA_A}
        assert recorded_revision({"revisions": [SHA_A, SHA_B]}) == joined
        assert recorded_revision({"revision": SHA_A}) == SHA_A

    def test_status_sync_has_revisions_and_compared_sources(self) -> None:
        sources = [{"repoURL": CHART_REPO}, {"repoURL": VALUES_REPO, "ref": "values"}]
        observation = Observation(join_revisions([SHA_A, SHA_B]), None, {"namespace": "web"},
                                  "Helm", [], sources=sources,
                                  source_types=("Helm", "Directory"))
        status = build_status({"sourceType": "Helm"}, observation, operation_state=None,
                              history=None, now=NOW, refresh=False)
        assert status["sync"] == {"status": "Synced", "revisions": [SHA_A, SHA_B],
                                  "comparedTo": {"sources": sources,
                                                 "destination": {"namespace": "web"}}}
        assert status["sourceTypes"] == ["Helm", "Directory"] and "sourceType" not in status

    def test_operation_and_history_record_every_source(self) -> None:
        sources = [{"repoURL": CHART_REPO}, {"repoURL": VALUES_REPO, "ref": "values"}]
        joined = join_revisions([SHA_A, SHA_B])
        state = start_operation({"sync": {"revisions": [SHA_A, SHA_B]}}, revision=joined,
                                source=None, now=NOW, sources=sources)
        assert state["syncResult"] == {"revisions": [SHA_A, SHA_B], "sources": sources}
        history = append_history(None, {**state, "phase": "Succeeded"}, source=None, now=NOW,
                                 limit=10, sources=sources)
        assert history[0]["revisions"] == [SHA_A, SHA_B]
        assert history[0]["sources"] == sources and "revision" not in history[0]

    def test_an_attempted_multi_source_revision_is_not_synced_again(self) -> None:
        application = app(CHART_WITH_VALUES, syncPolicy={"automated": {}})
        sources = [dict(s) for s in CHART_WITH_VALUES]
        joined = join_revisions([SHA_A, SHA_B])
        failed = {"phase": "Failed", "message": "boom",
                  "syncResult": {"revisions": [SHA_A, SHA_B], "sources": sources}}
        decision = decide_auto_sync(application, sync_status=SyncStatusCode.OUT_OF_SYNC,
                                    revision=joined, source=sources, operation_state=failed,
                                    only_pruning=False, refused=None, now=NOW)
        assert decision.start is None and decision.condition is not None
        newer = decide_auto_sync(application, sync_status=SyncStatusCode.OUT_OF_SYNC,
                                 revision=join_revisions([SHA_A, SHA_A]), source=sources,
                                 operation_state=failed, only_pruning=False, refused=None,
                                 now=NOW)
        assert newer.start == {"sync": {"revisions": [SHA_A, SHA_A]},
                               "initiatedBy": {"automated": True}}


class FakeGit(GitSource):
    """Each repository's `main` is a sha; checkouts are written from `files`."""

    def __init__(self, root: Path, files: dict[str, dict[str, str]]) -> None:
        super().__init__(root / "cache", allow_local=True)
        self.root, self.files = root, files
        self.heads = {CHART_REPO: SHA_A, VALUES_REPO: SHA_B}
        self.calls: list[tuple[str, str]] = []

    def fetch(self, repo_url: str, revision: str, credentials: Credentials | None = None
              ) -> Checkout:
        self.calls.append((repo_url, revision))
        if repo_url not in self.heads:
            raise SourceError(f"repository {repo_url} not found", temporary=False)
        sha = self.heads[repo_url] if revision == "main" else revision
        path = self.root / repo_url.rsplit("/", 1)[1] / sha
        for name, text in self.files.get(f"{repo_url}@{sha}", {}).items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
        path.mkdir(parents=True, exist_ok=True)
        return Checkout(path=path, revision=sha, resolved=revision)


def config_map(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: {value}}}\n"


class TestAppSources:
    def test_every_source_is_polled_and_the_revisions_joined(self, tmp_path: Path) -> None:
        git = FakeGit(tmp_path, {})
        shared = AppSources(git, lambda _ns: [], resync=60.0)
        target = shared.target("apps/shop", app(CHART_WITH_VALUES), "apps", NOW)
        assert target.error is None and target.revision == join_revisions([SHA_A, SHA_B])

    def test_a_failing_source_is_named(self, tmp_path: Path) -> None:
        git = FakeGit(tmp_path, {})
        broken = [CHART_WITH_VALUES[0], {"repoURL": "https://git.example.com/gone.git",
                                         "ref": "values", "name": "values-repo"}]
        target = shared_target(git, broken)
        assert target.revision is None
        assert target.error is not None and target.error.startswith("source values-repo: ")

    def test_objects_are_combined_in_order_and_ref_only_sources_render_nothing(
            self, tmp_path: Path) -> None:
        git = FakeGit(tmp_path, {
            f"{CHART_REPO}@{SHA_A}": {"base/cm.yaml": config_map("base", "1")},
            f"{VALUES_REPO}@{SHA_B}": {"extra/cm.yaml": config_map("extra", "2"),
                                       "env/prod.yaml": "v: 2\n"},
        })
        shared = AppSources(git, lambda _ns: [], resync=60.0)
        application = app([
            {"repoURL": CHART_REPO, "path": "base", "targetRevision": "main"},
            {"repoURL": VALUES_REPO, "path": "extra", "targetRevision": "main"},
            {"repoURL": VALUES_REPO, "targetRevision": "main", "ref": "values"},
        ])
        rendered = shared.render(application, app_name="shop", app_namespace="apps",
                                 revision=join_revisions([SHA_A, SHA_B, SHA_B]))
        assert [o["metadata"]["name"] for o in rendered.objects] == ["base", "extra"]
        assert rendered.source_types == ("Directory", "Directory", "Directory")

    def test_a_revision_that_does_not_fit_the_sources_is_an_error(self, tmp_path: Path
                                                                  ) -> None:
        shared = AppSources(FakeGit(tmp_path, {}), lambda _ns: [], resync=60.0)
        with pytest.raises(SourceError, match="give one revision per source"):
            shared.render(app(CHART_WITH_VALUES), app_name="shop", app_namespace="apps",
                          revision=SHA_A)

    @needs_helm
    def test_a_chart_reads_its_values_from_the_ref_source_at_its_revision(
            self, tmp_path: Path) -> None:
        chart = {"chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
                 "chart/values.yaml": "v: chart-default\n",
                 "chart/templates/cm.yaml": config_map("web", "{{ .Values.v }}")}
        git = FakeGit(tmp_path, {f"{CHART_REPO}@{SHA_A}": chart,
                                 f"{VALUES_REPO}@{SHA_B}": {"env/prod.yaml": "v: from-git\n"},
                                 f"{VALUES_REPO}@{'c' * 40}": {"env/prod.yaml": "v: older\n"}})
        shared = AppSources(git, lambda _ns: [], resync=60.0)
        application = app(CHART_WITH_VALUES)
        now = shared.render(application, app_name="shop", app_namespace="apps",
                            revision=join_revisions([SHA_A, SHA_B]))
        assert now.objects[0]["data"] == {"v": "from-git"}
        assert now.source_types == ("Helm", "Directory")
        older = shared.render(application, app_name="shop", app_namespace="apps",
                              revision=join_revisions([SHA_A, "c" * 40]))
        assert older.objects[0]["data"] == {"v": "older"}

    @needs_helm
    def test_a_ref_path_escaping_its_checkout_fails_the_render(self, tmp_path: Path) -> None:
        chart = {"chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
                 "chart/templates/cm.yaml": config_map("web", "x")}
        git = FakeGit(tmp_path, {f"{CHART_REPO}@{SHA_A}": chart})
        shared = AppSources(git, lambda _ns: [], resync=60.0)
        escaping = [{**CHART_WITH_VALUES[0], "helm": {"valueFiles": ["$values/../../x.yaml"]}},
                    CHART_WITH_VALUES[1]]
        with pytest.raises(RenderError, match=r"source 1 of 2: .*points outside"):
            shared.render(app(escaping), app_name="shop", app_namespace="apps",
                          revision=join_revisions([SHA_A, SHA_B]))


def shared_target(git: FakeGit, sources: list[dict[str, Any]]) -> Any:
    return AppSources(git, lambda _ns: [], resync=60.0).target("apps/shop", app(sources),
                                                               "apps", NOW)


class TestProjectAndCli:
    def test_every_source_repository_must_be_allowed_by_the_project(self) -> None:
        project = parse_object({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": "rollouts"},
            "spec": {"sourceRepos": [CHART_REPO], "destinations": [
                {"server": "https://kubernetes.default.svc", "namespace": "*"}]}})
        assert isinstance(project, AppProject)
        refused = spec_problem(project, app(CHART_WITH_VALUES), app_namespace="rollouts",
                               control_namespace="rollouts")
        assert refused is not None and refused.startswith("spec.sources[1]: ")
        assert VALUES_REPO.rsplit("/", 1)[1] in refused

    def test_history_shows_each_sources_target_and_revision(self) -> None:
        entry = {"id": 0, "deployedAt": "2026-01-01T00:00:00Z", "revisions": [SHA_A, "1.2.3"],
                 "sources": [{"repoURL": VALUES_REPO, "targetRevision": "main"},
                             {"repoURL": CHART_REPO, "chart": "web", "targetRevision": "1.2.x"}]}
        text = view.render_history({"status": {"history": [entry]}})
        assert f"main ({SHA_A[:7]}), 1.2.x (1.2.3)" in text

    def test_a_rollback_asks_for_the_entrys_revisions_and_sources(self) -> None:
        sources = [{"repoURL": CHART_REPO}, {"repoURL": VALUES_REPO, "ref": "values"}]
        operation = view.sync_operation(revision=None, prune=False, dry_run=False,
                                        sync_options=None, revisions=[SHA_A, SHA_B],
                                        sources=sources)
        assert operation["sync"]["revisions"] == [SHA_A, SHA_B]
        assert operation["sync"]["sources"] == sources and "revision" not in operation["sync"]
