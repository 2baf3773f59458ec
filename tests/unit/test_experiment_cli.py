"""`rollouts get experiment`'s view, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

from rollouts.cli.experiment_cmds import render_experiment

NOW = datetime(2024, 5, 1, 12, 1, 0, tzinfo=UTC)


def test_the_view_shows_phase_templates_and_analyses() -> None:
    obj = {
        "metadata": {"name": "demo", "namespace": "ns",
                     "creationTimestamp": "2024-05-01T12:00:00Z"},
        "spec": {"duration": "2s", "templates": [{"name": "baseline", "replicas": 2},
                                                 {"name": "canary"}],
                 "analyses": [{"name": "check", "templateName": "ok",
                               "requiredForCompletion": True}]},
        "status": {"phase": "Failed", "message": "AnalysisRun 'check' Failed: boom",
                   "availableAt": "2024-05-01T12:00:30Z",
                   "templateStatuses": [{"name": "baseline", "status": "Running",
                                         "availableReplicas": 2, "readyReplicas": 2,
                                         "podTemplateHash": "abc", "serviceName": "svc"}],
                   "analysisRuns": [{"name": "check", "analysisRun": "demo-check",
                                     "phase": "Failed", "message": "boom"}]},
    }
    text = render_experiment(obj, NOW)
    assert "Phase:         Failed" in text
    assert "Message:       AnalysisRun 'check' Failed: boom" in text
    assert "Available at:  2024-05-01T12:00:30Z (30s ago)" in text
    lines = text.splitlines()
    baseline = next(line for line in lines if line.startswith("baseline"))
    assert baseline.split()[:5] == ["baseline", "Running", "2/2", "2", "abc"]
    canary = next(line for line in lines if line.startswith("canary"))
    assert canary.split()[:3] == ["canary", "-", "0/1"]
    check = next(line for line in lines if line.startswith("check"))
    assert "demo-check" in check and "Failed" in check and "(required)" in check


def test_a_terminating_experiment_says_so() -> None:
    obj = {"metadata": {"name": "d"}, "spec": {"terminate": True, "templates": []},
           "status": {"phase": "Running"}}
    assert "Running  (terminating)" in render_experiment(obj, NOW)
