"""Sync means now: a requested sync without a revision asks Git when it starts, a
refresh waits for the controller, a hard refresh renders again.

The pure rule (`reconciler.operation.syncs_to_current_commit`), the render cache's hard
refresh (`AppSources.forget_render`), and the CLI's side of the refresh contract
(`rollouts.cli.app_refresh`) with a fake API client. The end-to-end behaviour (push,
then `rollouts app sync`, with a resync no poll could reach) is
tests/integration/test_reconciler_sync_now.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.operation import syncs_to_current_commit
from rollouts.cli.app_refresh import HARD, REFRESH_ANNOTATION, refresh, refresh_patch, refreshed
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import Session
from tests.unit.test_reconciler_shared_polls import NOW, SHA_1, SHA_2, FakeGit, app, sources


def requested(revision: str | None = None, phase: str | None = None) -> dict[str, Any]:
    sync: dict[str, Any] = {"prune": False}
    if revision:
        sync["revision"] = revision
    raw: dict[str, Any] = {"operation": {"sync": sync, "initiatedBy": {"username": "me"}}}
    if phase:
        raw["status"] = {"operationState": {"phase": phase}}
    return raw


class TestWhenASyncAsksGit:
    def test_a_request_without_a_revision_that_can_start_asks_git(self) -> None:
        assert syncs_to_current_commit(requested())
        assert syncs_to_current_commit(requested(phase="Succeeded"))  # the last one ended

    def test_not_with_a_revision_not_while_one_runs_not_without_a_request(self) -> None:
        assert not syncs_to_current_commit(requested("main"))  # resolved on its own
        assert not syncs_to_current_commit(requested(phase="Running"))  # it waits: no polls
        assert not syncs_to_current_commit({"status": {"operationState": {"phase": "Failed"}}})
        assert not syncs_to_current_commit({"operation": {"info": []}})

    def test_the_asked_target_sees_a_push_the_last_poll_missed(self, tmp_path: Path) -> None:
        # What the controller does with the rule: a refreshed target, within the resync.
        shared, git, clock = sources(tmp_path, resync=3600)
        assert shared.target("apps/a", app("a"), "apps", NOW).revision == SHA_1
        git.heads["main"] = SHA_2  # git push
        clock.now += 1
        assert shared.target("apps/a", app("a"), "apps", NOW).revision == SHA_1  # no poll due
        fresh = shared.target("apps/a", app("a"), "apps", NOW,
                              refresh=syncs_to_current_commit(requested()))
        assert fresh.revision == SHA_2 and fresh.polled


class TestHardRefresh:
    def test_the_apps_cached_render_is_dropped_and_made_again(self, tmp_path: Path) -> None:
        shared, git, _ = sources(tmp_path)
        one = app("one")
        shared.target("apps/one", one, "apps", NOW)
        first = shared.render(one, app_name="one", app_namespace="apps", revision=SHA_1)
        calls = len(git.calls)
        assert shared.render(one, app_name="one", app_namespace="apps", revision=SHA_1) is first
        assert len(git.calls) == calls  # answered from the cache
        shared.forget_render("apps/one", one, app_name="one")
        again = shared.render(one, app_name="one", app_namespace="apps", revision=SHA_1)
        assert again is not first and again.objects == first.objects
        assert len(git.calls) == calls + 1  # rendered from the checkout again

    def test_the_last_synced_commit_can_be_named_and_the_count_stays_right(
            self, tmp_path: Path) -> None:
        shared, _, _ = sources(tmp_path)
        one = app("one")
        shared.render(one, app_name="one", app_namespace="apps", revision=SHA_2)
        assert shared._rendered_objects == 1
        shared.forget_render("apps/one", one, app_name="one", revisions=(SHA_2,))
        assert shared._rendered_objects == 0 and not shared._renders


class FakeClient:
    """Records patches; the controller takes the annotation away after `answers` reads."""

    host = "https://127.0.0.1:6443"

    def __init__(self, answers: int | None) -> None:
        self.patches: list[dict[str, Any]] = []
        self.answers = answers
        self.reads = 0
        self.annotations: dict[str, str] = {}

    def patch(self, _kind: Any, namespace: str, name: str, body: dict[str, Any],
              patch_type: str = "merge") -> dict[str, Any]:
        assert (namespace, name, patch_type) == ("shop", "web", "merge")
        self.patches.append(body)
        self.annotations.update(body["metadata"]["annotations"])
        return self.app()

    def app(self) -> dict[str, Any]:
        return {"metadata": {"name": "web", "annotations": dict(self.annotations)},
                "status": {"sync": {"revision": SHA_2 if not self.annotations else SHA_1}}}

    def read(self) -> dict[str, Any]:
        self.reads += 1
        if self.patches and self.answers is not None and self.reads > self.answers:
            self.annotations.pop(REFRESH_ANNOTATION, None)
        return self.app()


class TestRefreshFromTheCli:
    def test_sets_the_annotation_and_returns_the_app_once_it_is_gone(self) -> None:
        client = FakeClient(answers=3)
        session = Session(client=client, namespace="shop")  # type: ignore[arg-type]
        app_obj = refresh(session, "web", HARD, client.read, sleep=lambda _s: None)
        assert client.patches == [refresh_patch(HARD)]
        assert client.patches[0] == {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard"}}}
        assert refreshed(app_obj) and app_obj["status"]["sync"]["revision"] == SHA_2
        assert client.reads == 4

    def test_a_controller_that_never_answers_is_a_one_line_error(self) -> None:
        client = FakeClient(answers=None)
        session = Session(client=client, namespace="shop")  # type: ignore[arg-type]
        ticks = iter(range(0, 1000, 10))
        with pytest.raises(UsageProblem) as caught:
            refresh(session, "web", "normal", client.read, wait=30, clock=lambda: next(ticks),
                    sleep=lambda _s: None)
        assert str(caught.value) == (
            "application 'web' was not refreshed within 30s: the annotation "
            "argocd.argoproj.io/refresh=normal is still set; is `rollouts controller` running "
            "for this namespace?")


class TestHardRefreshInTheController:
    """One controller pass at an unchanged commit: a `hard` refresh renders the app again,
    a `normal` one answers from the render cache. The Git source counts the checkouts a
    render reads; the compare is cut short after the render (no cluster here)."""

    def _controller(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> tuple[Any, FakeGit, list[str]]:
        from reconciler.controller import ApplicationController
        from reconciler.operation_runner import OperationRunner
        from reconciler.projects import default_project
        from reconciler.source import SourceError
        from rollouts.kube import KubeClient, WatchEvent

        git = FakeGit(tmp_path)
        controller = ApplicationController(KubeClient.for_server("https://127.0.0.1:9"),
                                           namespace="apps", source=git, resync=3600)
        project = default_project("apps")
        project["metadata"]["resourceVersion"] = "1"
        controller.projects.informer._apply(WatchEvent("ADDED", project))
        rendered: list[str] = []

        def compare(_runner: Any, key: str, model: Any, raw: Any, revision: str) -> Any:
            controller.sources.render(model, app_name="one", app_namespace="apps",
                                      revision=revision)
            rendered.append(revision)
            raise SourceError("the compare stops here: no cluster in this test",
                              temporary=False)

        # Every runner of the controller (the local cluster's is made per registered name).
        monkeypatch.setattr(OperationRunner, "compare", compare)
        patched: Any = controller
        patched._finish = lambda *_a, **_k: None  # no status write: no API server
        return controller, git, rendered

    @staticmethod
    def _raw(refresh: str | None) -> dict[str, Any]:
        raw = app("one").model_dump(by_alias=True, exclude_none=True, mode="json")
        raw["metadata"]["resourceVersion"] = "1"
        raw["spec"]["destination"]["server"] = "https://kubernetes.default.svc"
        if refresh is not None:
            raw["metadata"]["annotations"] = {REFRESH_ANNOTATION: refresh}
        return raw

    @pytest.mark.parametrize(("refresh", "fetches"), [("hard", 1), ("normal", 0)])
    def test_only_a_hard_refresh_renders_the_same_commit_again(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refresh: str,
            fetches: int) -> None:
        controller, git, rendered = self._controller(tmp_path, monkeypatch)
        controller._reconcile("apps/one", self._raw(None))
        assert rendered == [SHA_1]
        before = len(git.calls)
        controller._reconcile("apps/one", self._raw(refresh))
        assert rendered == [SHA_1, SHA_1]  # the same commit both times
        renders_again = [call for call in git.calls[before:] if call[1] == SHA_1]
        assert len(renders_again) == fetches
