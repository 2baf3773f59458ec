"""`rollouts app delete`: the finalizers set before the delete decide whether the
controller deletes the resources (Argo CD's contract); the command line as argocd's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner

import rollouts.cli.app_delete as app_delete
from rollouts.cli.app_delete import delete_app, delete_command, finalizers_for
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions
from rollouts.kube import NotFound

PLAIN = "resources-finalizer.argocd.argoproj.io"
BACKGROUND = f"{PLAIN}/background"


class TestFinalizers:
    def test_cascade_foreground_adds_the_plain_finalizer(self) -> None:
        assert finalizers_for([], cascade=True, policy="foreground") == [PLAIN]

    def test_cascade_background_replaces_any_other_cascade_finalizer(self) -> None:
        assert finalizers_for(["x.io/y", PLAIN], cascade=True, policy="background") == [
            "x.io/y", BACKGROUND]

    def test_no_cascade_removes_them_all_and_keeps_others(self) -> None:
        assert finalizers_for([PLAIN, "x.io/y", BACKGROUND], cascade=False,
                              policy="foreground") == ["x.io/y"]


class FakeClient:
    def __init__(self, app: dict[str, Any] | None, gone_after: int = 0) -> None:
        self.app, self.gone_after = app, gone_after
        self.calls: list[tuple[str, Any]] = []

    def get(self, _kind: Any, _namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("get", name))
        if self.app is None or (self.gone_after and
                                sum(c[0] == "get" for c in self.calls) > self.gone_after):
            raise NotFound(f'applications "{name}" not found', status=404)
        return self.app

    def patch(self, _kind: Any, _namespace: str, _name: str, body: Any, _how: str) -> Any:
        self.calls.append(("patch", body))
        return {}

    def delete(self, _kind: Any, _namespace: str, name: str) -> bool:
        self.calls.append(("delete", name))
        return True


class FakeSession:
    namespace = "rollouts"

    def __init__(self, client: FakeClient) -> None:
        self.client = client

    @contextmanager
    def calling(self, *_: Any, **__: Any) -> Iterator[None]:
        try:
            yield
        except NotFound as error:
            raise UsageProblem(str(error)) from error


def _app(*finalizers: str) -> dict[str, Any]:
    return {"metadata": {"name": "shop", "resourceVersion": "4",
                         "finalizers": list(finalizers)}}


def test_cascade_sets_the_finalizer_with_a_precondition_then_deletes() -> None:
    client = FakeClient(_app())
    delete_app(FakeSession(client), "shop", cascade=True, policy="foreground",  # type: ignore[arg-type]
               wait=None)
    assert client.calls[1:] == [
        ("patch", {"metadata": {"finalizers": [PLAIN], "resourceVersion": "4"}}),
        ("delete", "shop")]


def test_without_cascade_the_finalizer_goes_first() -> None:
    client = FakeClient(_app(PLAIN))
    delete_app(FakeSession(client), "shop", cascade=False, policy="foreground",  # type: ignore[arg-type]
               wait=None)
    assert client.calls[1] == ("patch", {"metadata": {"finalizers": None,
                                                      "resourceVersion": "4"}})


def test_nothing_to_change_means_no_patch() -> None:
    client = FakeClient(_app(PLAIN))
    delete_app(FakeSession(client), "shop", cascade=True, policy="foreground",  # type: ignore[arg-type]
               wait=None)
    assert [c[0] for c in client.calls] == ["get", "delete"]


def test_wait_polls_until_gone_and_a_timeout_says_why() -> None:
    client = FakeClient(_app(PLAIN), gone_after=3)
    delete_app(FakeSession(client), "shop", cascade=True, policy="foreground",  # type: ignore[arg-type]
               wait=10, sleep=lambda _s: None)
    assert [c[0] for c in client.calls].count("get") == 4
    ticks = iter(range(100))
    stuck = FakeClient(_app(PLAIN))
    with pytest.raises(UsageProblem, match="still there after 5 s"):
        delete_app(FakeSession(stuck), "shop", cascade=True, policy="foreground",  # type: ignore[arg-type]
                   wait=5, clock=lambda: float(next(ticks)), sleep=lambda _s: None)


def test_a_missing_application_is_one_line() -> None:
    with pytest.raises(UsageProblem, match="application 'shop' not found in namespace"):
        delete_app(FakeSession(FakeClient(None)), "shop", cascade=True,  # type: ignore[arg-type]
                   policy="foreground", wait=None)


@pytest.mark.parametrize(("args", "cascade", "policy", "wait"), [
    (["shop"], True, "foreground", None),
    (["shop", "--cascade=false"], False, "foreground", None),
    (["shop", "--cascade"], True, "foreground", None),
    (["shop", "-p", "background", "--wait", "--timeout", "30"], True, "background", 30.0),
])
def test_the_command_line_reads_as_argocds(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                          cascade: bool, policy: str, wait: float | None
                                          ) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(app_delete, "delete_app",
                        lambda _session, name, **kw: seen.update(kw, name=name))
    monkeypatch.setattr(KubeOptions, "session", lambda _self: None)
    result = CliRunner().invoke(delete_command, args)
    assert result.exit_code == 0, result.output
    assert seen == {"name": "shop", "cascade": cascade, "policy": policy, "wait": wait}
