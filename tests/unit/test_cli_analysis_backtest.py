"""`analysis backtest` before it queries history: a Rollout's analyses as runs (with the
argument values the controller would compute, and the missing ones named), and the
one-line errors (exit 2) for unusable input. No network beyond a refused local port.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from analysis.backtest import Window, backtest
from analysis.decide import Outcome
from rollouts.cli.analysis_backtest_rollout import (
    MissingArgs,
    NoAnalysis,
    rollout_subjects,
)
from rollouts.cli.analysis_backtest_view import Played, render_json, render_text
from rollouts.cli.main import main
from rollouts.core.observed import pod_template_hash

TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
    "metadata": {"name": "error-ratio"},
    "spec": {
        "args": [{"name": "service"}, {"name": "hash"}, {"name": "limit", "value": "0.05"}],
        "metrics": [{"name": "error-ratio", "successCondition": "result[0] < {{args.limit}}",
                     "provider": {"prometheus": {"address": "http://127.0.0.1:1",
                                                 "query": 'r{s="{{args.service}}"}'}}}],
    },
}
POD_TEMPLATE = {"metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "app", "image": "checkout:2"}]}}


def rollout(strategy: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": {"team": "pay"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "checkout"}},
                 "template": POD_TEMPLATE, "strategy": strategy},
    }
    if status is not None:
        doc["status"] = status
    return doc


def analysis(*args: dict[str, Any]) -> dict[str, Any]:
    return {"templates": [{"templateName": "error-ratio"}], "args": list(args)}


SERVICE_FROM_LABEL = {"name": "service",
                      "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}}
LATEST = {"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
STABLE = {"name": "hash", "valueFrom": {"podTemplateHashValue": "Stable"}}
CANARY = {"canary": {"steps": [{"setWeight": 20}, {"analysis": analysis(SERVICE_FROM_LABEL,
                                                                        LATEST)}],
                     "analysis": analysis({"name": "service", "value": "bg"}, STABLE)}}
TEMPLATES = {"error-ratio": TEMPLATE}


def values(run: dict[str, Any]) -> dict[str, Any]:
    return {arg["name"]: arg.get("value") for arg in run["spec"]["args"]}


class TestRolloutSubjects:
    def test_steps_and_background_with_the_values_the_controller_computes(self) -> None:
        subjects = rollout_subjects(rollout(CANARY, {"stableRS": "abc12"}), TEMPLATES, {}, {},
                                    live=False)
        assert [s.label for s in subjects] == ["step 1", "background"]
        step, background = subjects
        assert values(step.run) == {"service": "pay", "hash": pod_template_hash(POD_TEMPLATE),
                                    "limit": "0.05"}
        assert values(background.run) == {"service": "bg", "hash": "abc12", "limit": "0.05"}
        assert step.run["spec"]["metrics"][0]["name"] == "error-ratio"
        assert "ownerReferences" not in step.run["metadata"]

    def test_offline_the_stable_hash_is_missing_and_named(self) -> None:
        with pytest.raises(MissingArgs) as missing:
            rollout_subjects(rollout(CANARY), TEMPLATES, {}, {}, live=False)
        assert str(missing.value) == (
            "no value for 'hash' (valueFrom.podTemplateHashValue: Stable, which the Rollout's "
            "status does not give here): pass --arg hash=VALUE")

    def test_an_arg_overrides_and_fills_in(self) -> None:
        subjects = rollout_subjects(rollout(CANARY), TEMPLATES, {}, {"hash": "h1"},
                                    live=False)
        assert [values(s.run)["hash"] for s in subjects] == ["h1", "h1"]

    def test_live_latest_is_the_status_hash(self) -> None:
        subjects = rollout_subjects(
            rollout(CANARY, {"currentPodHash": "new99", "stableRS": "old11"}), TEMPLATES, {},
            {}, live=True)
        assert [values(s.run)["hash"] for s in subjects] == ["new99", "old11"]

    def test_a_template_argument_nobody_gives(self) -> None:
        strategy = {"canary": {"steps": [{"analysis": analysis(LATEST)}]}}
        with pytest.raises(MissingArgs, match="'service' \\(the template declares it without "
                                              "a value and the Rollout gives none\\)"):
            rollout_subjects(rollout(strategy), TEMPLATES, {}, {}, live=False)

    def test_blue_green_pre_and_post_promotion(self) -> None:
        strategy = {"blueGreen": {"activeService": "a", "previewService": "p",
                                  "prePromotionAnalysis": analysis(SERVICE_FROM_LABEL, LATEST),
                                  "postPromotionAnalysis": analysis(SERVICE_FROM_LABEL,
                                                                    LATEST)}}
        subjects = rollout_subjects(rollout(strategy), TEMPLATES, {}, {}, live=False)
        assert [s.label for s in subjects] == ["prePromotionAnalysis", "postPromotionAnalysis"]

    def test_no_analysis_or_a_missing_template(self) -> None:
        with pytest.raises(NoAnalysis, match="has no analysis"):
            rollout_subjects(rollout({"canary": {"steps": [{"setWeight": 50}]}}), TEMPLATES,
                             {}, {}, live=False)
        with pytest.raises(NoAnalysis, match="step 1: AnalysisTemplate 'error-ratio' not found "
                                             "in the -f files"):
            rollout_subjects(rollout(CANARY), {}, {}, {"hash": "x"}, live=False)


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["rollouts", "analysis", "backtest", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def write(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


class TestUnusableInput:
    @pytest.mark.parametrize(("args", "message"), [
        (["--from", "yesterday"], "error: --from 'yesterday' is not a time"),
        (["--from", "-1h", "--every", "0s"], "error: --every '0s' is shorter than a second"),
        (["--from", "-1h"], "error: give -f TEMPLATE.yaml"),
    ])
    def test_one_line_and_exit_2(self, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch, args: list[str],
                                 message: str) -> None:
        code, out, err = run_cli(capsys, monkeypatch, *args)
        assert code == 2 and out == ""
        assert err.startswith(message) and err.count("\n") == 1

    def test_a_template_with_only_web_metrics(self, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        web = {**TEMPLATE, "spec": {"metrics": [
            {"name": "smoke", "provider": {"web": {"url": "http://127.0.0.1:1/"}}}]}}
        code, _, err = run_cli(capsys, monkeypatch, "-f", write(tmp_path, web), "--from", "-1h")
        assert code == 2
        assert err == ("error: nothing to backtest: smoke (web: only prometheus and judge "
                       "metrics have history to query at past instants; this one is measured "
                       "live only)\n")

    def test_a_missing_argument(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
        code, _, err = run_cli(capsys, monkeypatch, "-f", write(tmp_path, TEMPLATE),
                               "--from", "-1h")
        assert code == 2 and "argument 'service' has no value" in err

    def test_prometheus_unreachable_is_checked_once_before_measuring(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> None:
        code, out, err = run_cli(capsys, monkeypatch, "-f", write(tmp_path, TEMPLATE),
                                 "--arg", "service=a", "--arg", "hash=b", "--from", "-1h")
        assert code == 2 and out == ""
        assert err.startswith("error: cannot backtest metric error-ratio: cannot query "
                              "prometheus at http://127.0.0.1:1")
        assert err.rstrip().endswith("check the address and that it is up")

    def test_a_rollout_file_without_its_stable_hash(self, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        code, _, err = run_cli(capsys, monkeypatch, "-f",
                               write(tmp_path, rollout(CANARY), TEMPLATE), "--from", "-1h")
        assert code == 2
        assert err.startswith("error: no value for 'hash' (valueFrom.podTemplateHashValue: "
                              "Stable")


class TestView:
    """What the command prints, from a small simulated backtest (no network)."""

    @staticmethod
    def played() -> tuple[list[Played], Window]:
        t0 = datetime(2026, 12, 3, tzinfo=UTC)
        metric = {"name": "error-ratio", "successCondition": "result[0] < 0.05",
                  "provider": {"prometheus": {"address": "http://p:9090", "query": "r"}}}
        span = Window(t0, t0 + timedelta(minutes=5), timedelta(minutes=1))

        def measure(_metric: Any, moment: datetime) -> Outcome:
            return Outcome.measured([0.01 if moment < t0 + timedelta(minutes=3) else 0.09])

        run = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
               "metadata": {"name": "r"}, "spec": {"metrics": [metric]}}
        result = backtest(run, span, measure)
        return [Played("AnalysisTemplate error-ratio (t.yaml)", [metric], result,
                       {"smoke": "web: live only"}, "service=checkout")], span

    def test_text_folds_equal_verdicts_and_ends_with_a_summary(self) -> None:
        played, span = self.played()
        text = render_text(played, span, queries=7, probes=1, seconds=0.25)
        assert text.splitlines() == [
            "AnalysisTemplate error-ratio (t.yaml): 2026-12-03T00:00:00Z .. "
            "2026-12-03T00:05:00Z",
            "  args: service=checkout",
            "  a run started every 1m from --from while it can finish by --to (a run takes "
            "0s without errors): 6 runs",
            "  metric error-ratio: successCondition result[0] < 0.05",
            "    2026-12-03T00:00:00Z .. 2026-12-03T00:02:00Z  3 x Successful  0.01",
            "    2026-12-03T00:03:00Z .. 2026-12-03T00:05:00Z  3 x Failed  0.09",
            "  runs: 6: 3 Successful, 3 Failed",
            "  first failure: the run started 2026-12-03T00:03:00Z ended Failed at "
            '2026-12-03T00:03:00Z: Metric "error-ratio" assessed Failed due to failed (1) > '
            "failureLimit (0)",
            "  first failed measurement: error-ratio at 2026-12-03T00:03:00Z: Failed, value "
            "[0.09]",
            "  verdict: Failed",
            "  not backtestable: smoke: web: live only",
            "",
            "summary: Failed; 6 measurements (3 successful, 3 failed, 0 inconclusive, 0 "
            "error); 7 queries (1 to check Prometheus first) in 0.2s",
        ]

    def test_json_holds_every_measurement_and_run(self) -> None:
        played, span = self.played()
        report = render_json(played, span, queries=7, probes=1, seconds=0.25)
        assert report["verdict"] == "Failed"
        assert report["window"] == {"from": "2026-12-03T00:00:00Z",
                                    "to": "2026-12-03T00:05:00Z", "every": "1m"}
        [analysis] = report["analyses"]
        assert analysis["runCounts"] == {"Successful": 3, "Failed": 3}
        assert len(analysis["runs"]) == 6 and len(analysis["measurements"]["error-ratio"]) == 6
        assert analysis["notBacktestable"] == [{"metric": "smoke", "reason": "web: live only"}]
        assert report["summary"] == {"measurements": 6, "successful": 3, "failed": 3,
                                     "inconclusive": 0, "error": 0, "queries": 7, "probes": 1,
                                     "seconds": 0.25}
