"""`rollouts lint FILE|DIR|-`: lines on stdout, a summary on stderr, exit 0 / 1 / 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from rollouts.cli.lint_cmd import lint

GOOD = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
  strategy: {canary: {steps: [{setWeight: 20}, {pause: {}}]}}
"""
WARNED = GOOD.replace("{canary: {", "{canary: {minPodsPerReplicaSet: 2, ")
BROKEN = GOOD.replace("setWeight: 20", "setWeight: 200")
CORPUS = Path(__file__).parents[2].parent / "shared" / "compat" / "argo-rollouts"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(lint, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


class TestGivenManifestFiles:
    def test_when_all_are_valid_then_exit_0_and_only_a_summary(self, tmp_path: Path) -> None:
        (tmp_path / "good.yaml").write_text(GOOD)
        code, out, err = run(str(tmp_path / "good.yaml"))
        assert (code, out) == (0, "")
        assert err.strip() == (
            "rollouts lint: 1 file, 1 document: 1 argoproj.io object checked, "
            "0 other objects skipped; 0 errors, 0 warnings"
        )

    def test_when_only_warnings_then_exit_0_unless_strict(self, tmp_path: Path) -> None:
        path = tmp_path / "warned.yaml"
        path.write_text(WARNED)
        code, out, _ = run(str(path))
        assert code == 0
        assert out == f"{path}:1:spec.strategy.canary.minPodsPerReplicaSet: warning: " + (
            "not supported yet, so it has no effect: a minimum of pods per ReplicaSet is not "
            "implemented\n"
        )
        assert run("--strict", str(path))[0] == 1

    def test_when_one_has_an_error_then_exit_1_and_one_line_per_problem(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "good.yaml").write_text(GOOD)
        (tmp_path / "broken.yaml").write_text(BROKEN)
        code, out, err = run(str(tmp_path / "good.yaml"), str(tmp_path / "broken.yaml"))
        assert code == 1
        assert out.splitlines() == [
            f"{tmp_path / 'broken.yaml'}:1:spec.strategy.canary.steps[0].setWeight: error: "
            "must be between 0 and 100, not 200"
        ]
        assert "1 error" in err


class TestGivenADirectory:
    def test_when_linted_then_every_manifest_under_it_is_read_in_sorted_order(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "z.yml").write_text(BROKEN)
        (tmp_path / "a.json").write_text(
            '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}'
        )
        (tmp_path / "c.yaml").write_text(BROKEN)
        (tmp_path / "notes.txt").write_text("not a manifest")
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "x.yaml").write_text("[")
        code, out, err = run(str(tmp_path))
        assert code == 1
        sources = [line.split(":", 1)[0] for line in out.splitlines()]
        assert sources == [str(tmp_path / "b" / "z.yml"), str(tmp_path / "c.yaml")]
        assert "3 files, 3 documents: 2 argoproj.io objects checked, 1 other object skipped" in err

    def test_when_it_holds_no_manifest_then_exit_2(self, tmp_path: Path) -> None:
        code, _, err = run(str(tmp_path))
        assert code == 2
        assert "no *.yaml, *.yml or *.json files" in err


class TestGivenStandardInput:
    def test_when_dash_then_stdin_is_linted_as_yaml(self) -> None:
        code, out, _ = run("-", stdin=BROKEN)
        assert code == 1
        assert out.startswith("<stdin>:1:spec.strategy.canary.steps[0].setWeight: error:")


class TestGivenUnusableInput:
    def test_when_a_file_is_missing_then_exit_2_with_one_line_and_no_traceback(
        self, tmp_path: Path
    ) -> None:
        code, out, err = run(str(tmp_path / "nope.yaml"))
        assert (code, out) == (2, "")
        assert (
            err.splitlines()[0]
            == f"error: {tmp_path / 'nope.yaml'}: no such file or directory: check the path"
        )
        assert "Traceback" not in err

    def test_when_a_file_is_not_yaml_then_exit_2_and_the_others_are_still_linted(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "bad.yaml").write_text("spec: [unclosed\n")
        (tmp_path / "broken.yaml").write_text(BROKEN)
        code, out, err = run(str(tmp_path / "bad.yaml"), str(tmp_path / "broken.yaml"))
        assert code == 2
        assert "setWeight" in out
        assert f"error: {tmp_path / 'bad.yaml'}: not valid YAML" in err

    def test_when_a_document_is_not_a_mapping_then_exit_2(self) -> None:
        code, _, err = run("-", stdin="- just\n- a list\n")
        assert code == 2 and "not a mapping" in err

    def test_when_a_file_is_not_utf8_then_exit_2(self, tmp_path: Path) -> None:
        (tmp_path / "latin.yaml").write_bytes(b"kind: caf\xe9\n")
        code, _, err = run(str(tmp_path / "latin.yaml"))
        assert code == 2 and "not UTF-8" in err


def test_the_installed_entry_point_exits_with_the_lint_status(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    command = [sys.executable, "-c", "from rollouts.cli.main import main; main()", "lint"]
    broken = subprocess.run(
        [*command, str(tmp_path / "broken.yaml")], capture_output=True, text=True
    )
    missing = subprocess.run([*command, str(tmp_path / "nope")], capture_output=True, text=True)
    assert broken.returncode == 1, broken.stderr
    assert missing.returncode == 2, missing.stderr


def test_the_argo_corpus_lints_with_errors_only_in_the_expected_failures() -> None:
    code, out, _ = run(str(CORPUS))
    assert code == 1
    failing = {line.split(":", 1)[0] for line in out.splitlines() if ": error: " in line}
    assert {Path(name).name for name in failing} == {
        "e2e-expectedfailures-malformed-analysistemplate.yaml",
        "e2e-expectedfailures-malformed-rollout.yaml",
    }
