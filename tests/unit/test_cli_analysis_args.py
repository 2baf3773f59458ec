"""`analysis run` before it measures anything: reading `--arg`, picking the template from
the file, building the synthetic run, and the one-line errors (exit 2) for unusable input.

No network here: every case stops before a provider is called.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import pytest

from rollouts.cli.analysis_cmds import parse_arg_assignments, pick_document, trial_run
from rollouts.cli.errors import UsageProblem
from rollouts.cli.main import load_all, main

TEMPLATE = """\
apiVersion: v1
kind: Service
metadata: {name: checkout}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
  - {name: service}
  - {name: threshold, value: "0.95"}
  - name: token
    valueFrom: {secretKeyRef: {name: creds, key: token}}
  metrics:
  - name: rate
    successCondition: result[0] >= {{args.threshold}}
    provider:
      prometheus:
        address: http://127.0.0.1:1
        query: up{service="{{args.service}}"}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider: {web: {url: "http://127.0.0.1:1/"}}
"""


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            *args: str) -> tuple[int, str, str]:
    """`rollouts ARGS` through the real entry point: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["rollouts", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


class TestArgAssignments:
    def test_name_equals_value_and_the_value_may_hold_equals_signs(self) -> None:
        assert parse_arg_assignments(["service=checkout", "q=a=b", "empty="]) == {
            "service": "checkout", "q": "a=b", "empty": ""}

    @pytest.mark.parametrize("bad", ["service", "=x", "my arg=1", "{x}=1"])
    def test_a_malformed_assignment_is_a_usage_error_naming_it(self, bad: str) -> None:
        with pytest.raises(click.BadParameter, match=f"'{bad}' is not NAME=VALUE"):
            parse_arg_assignments([bad])

    def test_the_same_name_twice_is_refused(self) -> None:
        with pytest.raises(click.BadParameter, match="'a' is given twice"):
            parse_arg_assignments(["a=1", "a=2"])

    def test_on_the_command_line_it_exits_2_with_one_line(
            self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            template: Path) -> None:
        code, out, err = run_cli(capsys, monkeypatch, "analysis", "run", "-f", str(template),
                                 "--arg", "oops")
        assert code == 2 and out == ""
        assert err == ("error: Invalid value for --arg: 'oops' is not NAME=VALUE "
                       "(e.g. --arg service=checkout)\n")


class TestPickDocument:
    docs: list[Any] = [{"kind": "Service", "metadata": {"name": "s"}},
                       {"kind": "AnalysisTemplate", "metadata": {"name": "a"}},
                       {"kind": "ClusterAnalysisTemplate", "metadata": {"name": "b"}}, "text"]

    def test_the_first_analysis_kind_by_default(self) -> None:
        assert pick_document(self.docs, "f.yaml")["metadata"]["name"] == "a"

    def test_by_name(self) -> None:
        assert pick_document(self.docs, "f.yaml", "b")["kind"] == "ClusterAnalysisTemplate"

    def test_an_analysis_run_will_do(self) -> None:
        run = {"kind": "AnalysisRun", "metadata": {"name": "r"}}
        assert pick_document([run], "f.yaml") == run

    def test_an_unknown_name_lists_the_names_there_are(self) -> None:
        with pytest.raises(UsageProblem, match=r"f.yaml has no template named 'c' \(it has: "
                                               r"a, b\); fix --template") as problem:
            pick_document(self.docs, "f.yaml", "c")
        assert problem.value.exit_code == 2

    def test_a_file_without_templates_says_what_it_holds(self) -> None:
        with pytest.raises(UsageProblem, match=r"holds no AnalysisTemplate, "
                                               r"ClusterAnalysisTemplate or AnalysisRun "
                                               r"\(it holds: Deployment, Service\)") as problem:
            pick_document([{"kind": "Service"}, {"kind": "Deployment"}], "f.yaml")
        assert problem.value.exit_code == 2


class TestTrialRun:
    template: dict[str, Any] = {
        "kind": "AnalysisTemplate", "metadata": {"name": "t", "namespace": "other"},
        "spec": {"args": [{"name": "service"}, {"name": "threshold", "value": "0.95"},
                          {"name": "token", "valueFrom": {"secretKeyRef": {"name": "c",
                                                                           "key": "k"}}}],
                 "metrics": [{"name": "m", "provider": {"web": {"url": "http://x"}}}],
                 "dryRun": [{"metricName": "m"}], "templates": [{"templateName": "x"}]}}

    def test_arg_values_override_defaults_and_secrets_keep_their_source(self) -> None:
        run = trial_run(self.template, {"service": "checkout", "threshold": "0.9"}, "shop")
        assert run["kind"] == "AnalysisRun"
        assert run["metadata"] == {"name": "t-trial", "namespace": "shop", "uid": ""}
        assert run["spec"]["args"] == [
            {"name": "service", "value": "checkout"}, {"name": "threshold", "value": "0.9"},
            {"name": "token", "valueFrom": {"secretKeyRef": {"name": "c", "key": "k"}}}]
        assert run["spec"]["dryRun"] == [{"metricName": "m"}]
        assert "templates" not in run["spec"], "only what a run has"

    def test_an_arg_can_replace_a_secret(self) -> None:
        run = trial_run(self.template, {"service": "s", "token": "t0k"}, "shop")
        assert run["spec"]["args"][2] == {"name": "token", "value": "t0k"}

    def test_an_argument_without_a_value_needs_an_arg(self) -> None:
        with pytest.raises(UsageProblem) as problem:
            trial_run(self.template, {}, "shop")
        assert str(problem.value) == "argument 'service' has no value: pass --arg service=VALUE"
        assert problem.value.exit_code == 2

    def test_an_argument_the_rollout_would_give_needs_an_arg_too(self) -> None:
        template = {"kind": "AnalysisTemplate", "metadata": {"name": "t"}, "spec": {
            "args": [{"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "metrics": [{"name": "m"}]}}
        with pytest.raises(UsageProblem, match=r"argument 'app' has no value \(the Rollout "
                                               r"fills in valueFrom.fieldRef\): pass --arg "
                                               r"app=VALUE"):
            trial_run(template, {}, "shop")

    def test_an_undeclared_arg_is_refused_naming_the_declared_ones(self) -> None:
        with pytest.raises(UsageProblem, match=r"--arg servce: AnalysisTemplate 't' declares "
                                               r"no argument 'servce' \(it declares: service, "
                                               r"threshold, token\)"):
            trial_run(self.template, {"servce": "x"}, "shop")

    def test_a_template_without_metrics_is_unusable(self) -> None:
        with pytest.raises(UsageProblem, match=r"has no spec\.metrics"):
            trial_run({"kind": "AnalysisTemplate", "metadata": {"name": "t"}, "spec": {}}, {},
                      "shop")


class TestUnusableInput:
    """Exit 2 and one line on stderr, before anything is measured."""

    def check(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              *args: str) -> str:
        code, out, err = run_cli(capsys, monkeypatch, "analysis", "run", *args)
        assert (code, out) == (2, ""), (code, out, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err.strip()

    def test_bad_yaml(self, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("kind: AnalysisTemplate\nspec: [\n")
        assert self.check(capsys, monkeypatch, "-f", str(bad)).startswith(
            f"error: {bad} is not valid YAML: line 3")

    def test_an_alias_bomb_is_refused_before_it_expands(
            self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> None:
        """The file is read by the bounded loader: nine levels of ten aliases would be a
        billion strings once expanded (a bare yaml.safe_load_all builds them)."""
        levels = ['a0: &a0 ["lol"]'] + [
            f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 10)]
        bomb = tmp_path / "bomb.yaml"
        bomb.write_text("kind: AnalysisTemplate\nspec:\n  " + "\n  ".join(levels) + "\n")
        message = self.check(capsys, monkeypatch, "-f", str(bomb))
        assert message.startswith(f"error: {bomb} is not valid YAML: ") and "alias" in message

    def test_missing_file(self, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        assert self.check(capsys, monkeypatch, "-f", str(tmp_path / "nope.yaml")) == (
            f"error: cannot read {tmp_path / 'nope.yaml'}: No such file or directory; "
            "check the path")

    def test_missing_arg(self, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch, template: Path) -> None:
        assert self.check(capsys, monkeypatch, "-f", str(template)) == (
            "error: argument 'service' has no value: pass --arg service=VALUE")

    def test_a_secret_without_a_cluster(self, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, template: Path,
                                        tmp_path: Path) -> None:
        err = self.check(capsys, monkeypatch, "-f", str(template), "--arg", "service=s",
                         "--kubeconfig", str(tmp_path / "none"))
        assert err.startswith("error: argument 'token' comes from a Secret "
                              "(valueFrom.secretKeyRef), which needs a cluster: kubeconfig ")
        assert err.endswith("or pass --arg token=VALUE")

    def test_an_unknown_template_name(self, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, template: Path) -> None:
        assert "has no template named 'nope' (it has: success-rate, smoke)" in self.check(
            capsys, monkeypatch, "-f", str(template), "--template", "nope")

    def test_a_condition_that_does_not_parse(self, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch,
                                             template: Path) -> None:
        err = self.check(capsys, monkeypatch, "-f", str(template), "--arg", "service=s",
                         "--arg", "threshold=(", "--arg", "token=t")
        assert err.startswith("error: AnalysisTemplate 'success-rate' cannot run: "
                              "spec.metrics[0].successCondition:")
        assert err.endswith("; fix the template")


def test_both_commands_are_registered_next_to_the_rollout_ones() -> None:
    commands = load_all().commands  # the group loads its modules on demand
    get = commands["get"]
    assert isinstance(get, click.Group)
    assert {"rollout", "analysisrun", "ar"} <= set(get.commands)
    analysis = commands["analysis"]
    assert isinstance(analysis, click.Group) and "run" in analysis.commands
