"""`rollouts analysis backtest` against a real Prometheus holding a day of backfilled history.

The history (`prom_history`: promtool backfill, no control plane): an error ratio for
`checkout`, sampled every 30 s over the last day, 0.01 except for the hour from minute
840 to minute 899 after the start of the day, when it is 0.09. A template passes while
`result[0] < 0.05`. The expected verdicts, first failures and query counts are worked out
by hand in each test from those minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.prom_history import Series, prometheus_with_history

ROOT = Path(__file__).resolve().parents[2]
BAD_FROM, BAD_UNTIL = 840, 900  # minutes after the start of the day: the bad hour


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, datetime]]:
    """(Prometheus URL, start of the day of history)."""
    end = int(time.time()) // 60 * 60 - 60
    start = end - 86400
    points = [(float(t), 0.09 if start + BAD_FROM * 60 <= t < start + BAD_UNTIL * 60
               else 0.01) for t in range(start, end + 1, 30)]
    series = [Series("http_error_ratio", points, {"service": "checkout"})]
    with prometheus_with_history(tmp_path_factory.mktemp("prom"), series) as url:
        yield url, datetime.fromtimestamp(start, UTC)


def minute(start: datetime, offset: int) -> str:
    return (start + timedelta(minutes=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def template(name: str, url: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"args": [{"name": "service"}],
                 "metrics": [{"name": "error-ratio", "successCondition": "result[0] < 0.05",
                              "provider": {"prometheus": {
                                  "address": url,
                                  "query": 'max(http_error_ratio{service="{{args.service}}"})'}},
                              **fields}]},
    }


def backtest(tmp_path: Path, docs: list[dict[str, Any]], *args: str) -> tuple[int, Any, str]:
    """Run the real CLI; (exit status, the JSON it printed, stderr)."""
    path = tmp_path / "analysis.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    done = subprocess.run([sys.executable, "-m", "rollouts.cli.main", "analysis", "backtest",
                           "-f", str(path), "-o", "json", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, json.loads(done.stdout) if done.stdout else None, done.stderr


def test_a_day_at_one_minute_fails_at_the_bad_hour(history: tuple[str, datetime],
                                                   tmp_path: Path) -> None:
    """One measurement per run, a run every minute from the day's start to its end
    (1441 runs); those in the bad hour (60) fail, the first at minute 840."""
    url, start = history
    chart = tmp_path / "chart.svg"
    code, report, err = backtest(
        tmp_path, [template("error-ratio", url)], "--arg", "service=checkout",
        "--from", minute(start, 0), "--to", minute(start, 1440), "--every", "1m",
        "--chart", str(chart))

    assert code == 1, err
    assert report["verdict"] == "Failed"
    [analysis] = report["analyses"]
    assert analysis["runCounts"] == {"Successful": 1381, "Failed": 60}
    assert analysis["firstFailure"] == {
        "startedAt": minute(start, BAD_FROM), "phase": "Failed",
        "finishedAt": minute(start, BAD_FROM), "cut": False,
        "message": 'Metric "error-ratio" assessed Failed due to failed (1) > failureLimit (0)'}
    assert analysis["firstFailedMeasurement"]["at"] == minute(start, BAD_FROM)
    assert analysis["firstFailedMeasurement"]["value"] == "[0.09]"
    measured = analysis["measurements"]["error-ratio"]
    assert len(measured) == 1441
    assert {m["value"] for m in measured} == {"[0.01]", "[0.09]"}
    summary = report["summary"]
    assert (summary["measurements"], summary["successful"], summary["failed"]) == (1441, 1381,
                                                                                   60)
    assert (summary["queries"], summary["probes"]) == (1442, 1)
    print(f"\nbacktest of a day at 1m: {summary['queries']} queries in "
          f"{summary['seconds']} s")

    root = ElementTree.parse(chart).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    lines = [e for e in root.iter("{http://www.w3.org/2000/svg}line")
             if e.get("class") == "threshold success"]
    assert [line.get("data-value") for line in lines] == ["0.05"]


ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout, labels: {app: checkout}}
spec:
  replicas: 2
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec: {containers: [{name: app, image: "checkout:2"}]}
  strategy:
    canary:
      analysis:
        templates: [{templateName: error-ratio-background}]
        args: [{name: service, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}]
      steps:
      - setWeight: 20
      - analysis:
          templates: [{templateName: error-ratio-step}]
          args: [{name: service, value: checkout}]
"""


def test_a_rollouts_step_and_background_analyses(history: tuple[str, datetime],
                                                 tmp_path: Path) -> None:
    """Two hours around the bad hour's start (minutes 780..900).

    Step analysis (count 3, interval 1m, failureLimit 1): runs start at 780..898 (each
    needs 2 minutes); a run fails at its second bad measurement: 780..838 pass (838 sees
    only 840), 839 fails at 841 (first, started before 840 which also ends at 841), and
    every later one fails. Instants 780..899 are queried (898's run ends at 899).

    Background analysis (interval 1m, no count, failureLimit 5; service from the
    Rollout's label): a run from 780; failures at 840..845, the sixth (845) ends it. The
    next starts at 846 and fails at 851, and so on every 6 minutes: the tenth fails at 899
    (894..899); the eleventh starts at 900, the end, and is terminated Successful there.
    Instants 780..900 are queried once each.
    """
    url, start = history
    docs = [*yaml.safe_load_all(ROLLOUT),
            template("error-ratio-step", url, count=3, interval="1m", failureLimit=1),
            template("error-ratio-background", url, interval="1m", failureLimit=5)]
    code, report, err = backtest(tmp_path, docs, "--rollout", "checkout",
                                 "--from", minute(start, 780), "--to", minute(start, 900))

    assert code == 1, err
    step, background = report["analyses"]
    assert step["label"].startswith("Rollout checkout step 1 ")
    assert step["runCounts"] == {"Successful": 59, "Failed": 60}
    assert (step["firstFailure"]["startedAt"], step["firstFailure"]["finishedAt"]) == (
        minute(start, 839), minute(start, 841))
    assert [m["at"] for m in step["measurements"]["error-ratio"]] == [
        minute(start, m) for m in range(780, 900)]

    assert background["label"].startswith("Rollout checkout background ")
    assert background["args"] == "service=checkout"
    assert background["continuous"] is True
    runs = background["runs"]
    assert [(r["startedAt"], r["phase"], r["finishedAt"]) for r in runs] == [
        (minute(start, 780), "Failed", minute(start, 845)),
        *[(minute(start, s), "Failed", minute(start, s + 5)) for s in range(846, 895, 6)],
        (minute(start, 900), "Successful", minute(start, 900))]
    assert runs[0]["message"].startswith(
        'Metric "error-ratio" assessed Failed due to failed (6) > failureLimit (5)')
    assert background["firstFailure"]["finishedAt"] == minute(start, 845)
    assert report["summary"]["queries"] == 120 + 121 + 1


def test_an_empty_result_with_empty_result_inconclusive_is_inconclusive(
        history: tuple[str, datetime], tmp_path: Path) -> None:
    """A query no series matches answers `[]`: with `emptyResult: Inconclusive` the
    measurement is Inconclusive (the run holds); the same query without it (dry-run here,
    so it does not decide) is an Error measurement, as in Argo."""
    url, start = history
    doc = template("no-data", url, emptyResult="Inconclusive")
    unset = {**doc["spec"]["metrics"][0], "name": "argo-default"}
    unset.pop("emptyResult")
    doc["spec"]["metrics"].append(unset)
    doc["spec"]["dryRun"] = [{"metricName": "argo-default"}]
    code, report, err = backtest(tmp_path, [doc], "--arg", "service=gone",
                                 "--from", minute(start, 0), "--to", minute(start, 5))

    assert code == 1, err
    assert report["verdict"] == "Inconclusive"
    [analysis] = report["analyses"]
    assert analysis["runCounts"] == {"Inconclusive": 6}
    inconclusive = analysis["measurements"]["error-ratio"]
    assert {(m["phase"], m["value"], m["message"]) for m in inconclusive} == {
        ("Inconclusive", "[]", "no data (no series): emptyResult is Inconclusive")}
    errors = analysis["measurements"]["argo-default"]
    assert {m["phase"] for m in errors} == {"Error"}
    assert "index out of range" in errors[0]["message"]
