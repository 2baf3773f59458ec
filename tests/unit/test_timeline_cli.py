"""`rollouts plan -f FILE`: a table or JSON on stdout; bad input is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollouts.cli.errors import UsageProblem
from rollouts.cli.plan_cmd import plan

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 5
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {duration: 2m}
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: service, value: checkout}]
      - pause: {}
"""
TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}]
  metrics:
  - name: rate
    interval: 1m
    count: 4
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(http_requests_total{service="{{args.service}}",code!~"5.."}[1m]))
"""
CORPUS = Path(__file__).parents[2].parent / "shared" / "compat" / "argo-rollouts"


def run(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout, stderr, as `rollouts.cli.main.main` reports a `UsageProblem`."""
    result = CliRunner().invoke(plan, list(args))
    if isinstance(result.exception, UsageProblem):
        return result.exception.exit_code, result.stdout, f"error: {result.exception}"
    return result.exit_code, result.stdout, result.stderr


def test_the_table_with_the_template_from_another_file(tmp_path: Path) -> None:
    (tmp_path / "rollout.yaml").write_text(ROLLOUT)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    code, out, _ = run("-f", str(tmp_path / "rollout.yaml"), "-f", str(tmp_path / "template.yaml"))
    assert code == 0, out
    assert out.splitlines()[0] == ("Rollout web (canary; 5 replicas; no traffic router: "
                                   "weights are pod counts; maxSurge 2, maxUnavailable 1)")
    assert 'rate (prometheus, interval 1m, count 4): sum(rate(http_requests_total{service=' \
           '"checkout",code!~"5.."}[1m]))' in out
    assert "Minimum total time: 5m, plus:" in out  # 2m pause + 3 intervals of 1m
    assert "step 4: pause until promoted" in out


def test_json_output(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(ROLLOUT + "---\n" + TEMPLATE)
    code, out, _ = run("-f", str(tmp_path / "all.yaml"), "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["minTotalSeconds"] == 300
    assert [s["kind"] for s in doc["stages"]] == ["setWeight", "pause", "analysis", "pause",
                                                  "complete"]


def test_a_template_not_given_is_named(tmp_path: Path) -> None:
    (tmp_path / "rollout.yaml").write_text(ROLLOUT)
    code, out, _ = run("-f", str(tmp_path / "rollout.yaml"))
    assert code == 0
    assert "template not given: success-rate (pass it with -f)" in out


def test_several_rollouts_need_a_name(tmp_path: Path) -> None:
    other = ROLLOUT.replace("name: web}", "name: api}")
    (tmp_path / "two.yaml").write_text(ROLLOUT + "---\n" + other)
    code, _, err = run("-f", str(tmp_path / "two.yaml"))
    assert code == 2 and "holds 2 Rollouts (web, api); name one" in err
    code, out, _ = run("-f", str(tmp_path / "two.yaml"), "api")
    assert code == 0 and out.startswith("Rollout api ")


@pytest.mark.parametrize(("content", "message"), [
    ("kind: Rollout\nspec: [\n", "is not valid YAML: line 3"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
     "holds no Rollout (it holds: ConfigMap); give a Rollout manifest"),
    (ROLLOUT.replace("- pause: {}", "- fly: {}"),
     "Rollout web: spec.strategy.canary.steps[3]"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    done = subprocess.run([sys.executable, "-m", "rollouts.cli.main", "plan", "-f",
                           str(tmp_path / "bad.yaml")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the compat corpus is beside the project")
def test_every_rollout_of_the_argo_corpus_plans() -> None:
    templates = [str(CORPUS / name) for name in ("examples-analysis-templates.yaml",
                                                 "examples-cluster-analysis-templates.yaml")]
    planned = 0
    for path in sorted(CORPUS.glob("*.yaml")):
        text = path.read_text()
        if "kind: Rollout" not in text or "expectedfailures" in path.name:
            continue
        code, out, err = run("-f", str(path), *[a for t in templates for a in ("-f", t)])
        assert code == 0, f"{path.name}: {err}"
        assert "Minimum total time" in out
        planned += 1
    assert planned >= 15
