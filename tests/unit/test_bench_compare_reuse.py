"""COMPARE_REUSE: a controller's figures taken from a saved run only when that run
measured the same scenarios with the same knobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.compare import __main__ as compare


def _saved(tmp_path: Path, knobs: dict[str, str]) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"argo": {
        "figures": [{"label": "x: p50", "value": 12.0, "unit": "ms", "n": 100,
                     "better": "lower"}],
        "points": [], "raw": {}, "failed": [],
        "run": {"when": "2026-12-04 10:20 UTC", "commit": "abc1234",
                "scenarios": ["latency"], "knobs": knobs}}}))
    return path


def test_a_saved_run_with_the_same_knobs_is_reused(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPARE_REUSE", "argo")
    monkeypatch.setenv("COMPARE_REUSE_FROM", str(_saved(tmp_path, {"COMPARE_LATENCY_N": "100"})))
    monkeypatch.setenv("COMPARE_LATENCY_N", "100")
    reused = compare._reused(["ours", "argo"], ["latency"])
    assert [f.value for f in reused["argo"].figures] == [12.0]
    assert "2026-12-04 10:20 UTC" in compare._reuse_note(reused)
    assert "abc1234" in compare._reuse_note(reused)


def test_a_saved_run_with_other_knobs_is_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPARE_REUSE", "argo")
    monkeypatch.setenv("COMPARE_REUSE_FROM", str(_saved(tmp_path, {})))
    monkeypatch.setenv("COMPARE_LATENCY_N", "1000")
    with pytest.raises(SystemExit, match="measure both again"):
        compare._reused(["ours", "argo"], ["latency"])
    monkeypatch.delenv("COMPARE_LATENCY_N")
    with pytest.raises(SystemExit, match="measure both again"):
        compare._reused(["ours", "argo"], ["latency", "idle"])


def test_without_a_saved_run_it_says_what_to_do(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPARE_REUSE", "argo")
    monkeypatch.setenv("COMPARE_REUSE_FROM", str(tmp_path / "missing.json"))
    with pytest.raises(SystemExit, match="run without COMPARE_REUSE first"):
        compare._reused(["ours", "argo"], ["latency"])
