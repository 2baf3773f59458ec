"""kubectl habits (rollouts.cli.kubeopts): namespace defaults and one-line API errors."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, explain, kube_options, kubeconfig_namespace
from rollouts.cli.main import cli
from rollouts.kube import Forbidden, KubeError, NotFound, Unauthorized, Unavailable

HOST = "https://127.0.0.1:6443"

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: shop
contexts:
- name: shop
  context: {cluster: c, user: u, namespace: shop}
- name: bare
  context: {cluster: c, user: u}
"""


class TestNamespace:
    def test_the_current_contexts_namespace(self, tmp_path: Path) -> None:
        config = tmp_path / "config"
        config.write_text(KUBECONFIG)
        assert kubeconfig_namespace([config], None) == "shop"
        assert kubeconfig_namespace([config], "bare") is None
        assert kubeconfig_namespace([config], "missing") is None

    def test_merged_files_first_setting_wins(self, tmp_path: Path) -> None:
        first = tmp_path / "a"
        first.write_text("current-context: bare\n")
        second = tmp_path / "b"
        second.write_text(KUBECONFIG)
        assert kubeconfig_namespace([first, second], None) is None
        assert kubeconfig_namespace([tmp_path / "missing", second], None) == "shop"

    def test_flag_then_context_then_default(self, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        config = tmp_path / "config"
        config.write_text(KUBECONFIG)
        assert KubeOptions("mine", None, str(config)).resolved_namespace() == "mine"
        assert KubeOptions(None, None, str(config)).resolved_namespace() == "shop"
        assert KubeOptions(None, "bare", str(config)).resolved_namespace() == "default"
        monkeypatch.setenv("KUBECONFIG", str(config))
        assert KubeOptions(None, None, None).resolved_namespace() == "shop"

    def test_the_decorator_passes_one_kube_options(self) -> None:
        seen: list[KubeOptions] = []

        @click.command()
        @kube_options
        def probe(kube: KubeOptions) -> None:
            seen.append(kube)

        result = CliRunner().invoke(probe, ["-n", "x", "--context", "c", "--kubeconfig", "k"])
        assert result.exit_code == 0, result.output
        assert seen == [KubeOptions("x", "c", "k")]


def problem(error: KubeError, verb: str = "get", name: str | None = "demo") -> str:
    return str(explain(error, verb=verb, resource="rollout", name=name, namespace="shop",
                       host=HOST))


class TestExplain:
    def test_a_missing_rollout_says_how_to_list_them(self) -> None:
        error = NotFound('rollouts.argoproj.io "demo" not found', 404, "NotFound")
        assert problem(error) == ("rollout 'demo' not found in namespace 'shop'; list them "
                                  "with `rollouts list rollouts -n shop`")

    def test_a_missing_kind_points_at_the_crds(self) -> None:
        error = NotFound("the server could not find the requested resource", 404, "NotFound")
        assert "are the CRDs installed?" in problem(error)

    def test_rbac_denial_names_verb_and_object(self) -> None:
        error = Forbidden('User "dev" cannot patch resource "rollouts/status"', 403)
        text = problem(error, verb="patch the status of")
        assert text.startswith("not allowed to patch the status of rollout 'demo' in "
                               "namespace 'shop': RBAC denied it")
        assert "ask an admin for a Role" in text

    def test_an_unreachable_server_asks_whether_the_cluster_is_up(self) -> None:
        error = Unavailable(f"GET /apis/x: cannot reach the API server at {HOST}: "
                            "connection refused")
        assert problem(error) == (f"cannot reach the API server at {HOST}: connection "
                                  "refused; is the cluster up? (`rollouts dev up`)")

    def test_a_failing_server_says_try_again(self) -> None:
        assert "try again" in problem(Unavailable("etcd timeout", 503))

    def test_refused_credentials_and_anything_else(self) -> None:
        assert "refused the credentials" in problem(Unauthorized("Unauthorized", 401))
        assert problem(KubeError("bad patch", 400), verb="patch") == (
            "could not patch rollout 'demo' in namespace 'shop': bad patch")

    def test_messages_are_one_line(self) -> None:
        assert "\n" not in problem(KubeError("multi\nline\nmessage", 400))


class TestUserMistakesBeforeAnyCall:
    """Mistakes found before talking to a cluster: a UsageProblem (main() prints it)."""

    @pytest.mark.parametrize(("args", "message"), [
        (["set", "image", "demo", "nope"], "bad CONTAINER=IMAGE 'nope'"),
        (["status", "demo", "--timeout", "5parsecs"], "bad --timeout '5parsecs'"),
        (["status", "demo", "--timeout", "-5s"], "cannot be negative"),
    ])
    def test_they_are_one_line_problems(self, args: list[str], message: str) -> None:
        result = CliRunner().invoke(cli, [*args, "--kubeconfig", "/nonexistent"])
        assert isinstance(result.exception, UsageProblem)
        assert message in str(result.exception)

    def test_a_broken_kubeconfig_is_a_problem_too(self) -> None:
        result = CliRunner().invoke(cli, ["abort", "demo", "--kubeconfig", "/nonexistent"])
        assert isinstance(result.exception, UsageProblem)
        text = str(result.exception)
        assert "kubeconfig /nonexistent" in text and "\n" not in text

    def test_retry_takes_name_or_rollout_name(self) -> None:
        result = CliRunner().invoke(cli, ["retry", "a", "b", "c"])
        assert result.exit_code == 2

    def test_aliases_are_hidden_but_work(self) -> None:
        assert CliRunner().invoke(cli, ["get", "ro", "--help"]).exit_code == 0
        assert CliRunner().invoke(cli, ["list", "ro", "--help"]).exit_code == 0
        listing = CliRunner().invoke(cli, ["list", "--help"]).output
        assert "rollouts" in listing and " ro " not in listing
