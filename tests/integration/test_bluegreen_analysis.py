"""Blue-green analyses on the real control plane: pre-promotion analysis gates the switch
of the active Service, post-promotion analysis gates stability (and its failure switches
back), `promote --full` skips them, and finished AnalysisRuns are garbage-collected per
spec.analysis.{successful,unsuccessful}RunHistoryLimit.

The real controller process runs the rollouts and analysis controllers; analyses are
`job` metrics whose pods kwok finishes (see bluegreen_support.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import (
    HASH,
    analysis,
    analysis_runs,
    apply,
    blue_green,
    bluegreen_rollout,
    job_template,
    new_revision,
    patch_rollout,
    promoted,
    replicas,
    revision_of,
    run_phase,
    selectors,
    services_for,
    wait_active,
    wait_status,
)
from tests.integration.support import (
    rollout_status,
    rollouts_cli,
    running_controller,
    wait_for,
    wait_phase,
)

FINISHED = {"Successful", "Failed", "Error", "Inconclusive"}


def _run_name(cluster: TestCluster, namespace: str, name: str, pod_hash: str,
              kind: str) -> str:
    return f"{name}-{pod_hash}-{revision_of(cluster, namespace, pod_hash)}-{kind}"


def _wait_run(cluster: TestCluster, namespace: str, run: str,
              timeout: float = 60) -> dict[str, Any]:
    wait_for(lambda: run in analysis_runs(cluster, namespace), timeout,
             f"AnalysisRun {run}", lambda: sorted(analysis_runs(cluster, namespace)))
    return analysis_runs(cluster, namespace)[run]


def _pre_failed_for(status: dict[str, Any], pod_hash: str) -> bool:
    run = blue_green(status).get("prePromotionAnalysisRunStatus") or {}
    return f"-{pod_hash}-" in str(run.get("name")) and run.get("status") == "Failed"


def test_pre_and_post_promotion_analyses_gate_the_switch_and_stability(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, job_template("pre", run_ms=2500),
              job_template("post", run_ms=2500), *services_for("ana"),
              bluegreen_rollout("ana", scaleDownDelaySeconds=2,
                                prePromotionAnalysis=analysis("pre"),
                                postPromotionAnalysis=analysis("post")))
        old = wait_phase(cluster, namespace, "ana", "Healthy")["stableRS"]
        assert analysis_runs(cluster, namespace) == {}  # first deployment: no analysis

        new = new_revision(cluster, namespace, "ana", "app:2")
        pre_name = _run_name(cluster, namespace, "ana", new, "pre")
        post_name = _run_name(cluster, namespace, "ana", new, "post")
        pre = _wait_run(cluster, namespace, pre_name)
        labels = pre["metadata"]["labels"]
        assert labels["rollouts.argoproj.io/rollout"] == "ana"
        assert labels["rollout-type"] == "PrePromotion"
        assert labels[HASH] == new
        assert pre["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
        wait_for(lambda: selectors(cluster, namespace, "ana") == (old, new), 30,
                 "preview on green while the pre-promotion analysis runs",
                 lambda: selectors(cluster, namespace, "ana"))
        status = wait_status(
            cluster, namespace, "ana",
            lambda s: (blue_green(s).get("prePromotionAnalysisRunStatus") or {}).get("name")
            == pre_name, "prePromotionAnalysisRunStatus")
        assert status["stableRS"] == old

        # Watch the order: active switches only after the pre run succeeded; the post run
        # starts only after the switch; stableRS moves only after the post run succeeded.
        deadline = time.monotonic() + 90
        switched = False
        while time.monotonic() < deadline:
            runs = analysis_runs(cluster, namespace)
            status = rollout_status(cluster, namespace, "ana")
            active = selectors(cluster, namespace, "ana")[0]
            if active == new and not switched:
                switched = True
                pre = analysis_runs(cluster, namespace)[pre_name]  # read after the switch
                assert run_phase(pre) == "Successful", "switched before the pre run succeeded"
            if post_name in runs:  # runs were read before the Service
                assert switched, "post-promotion analysis started before the switch"
            if status.get("stableRS") == new:
                assert run_phase(analysis_runs(cluster, namespace).get(post_name)) == \
                    "Successful", "stable before the post-promotion analysis succeeded"
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"never became stable; last status {status}")
        assert switched
        post = analysis_runs(cluster, namespace)[post_name]
        assert post["metadata"]["labels"]["rollout-type"] == "PostPromotion"
        final = wait_phase(cluster, namespace, "ana", "Healthy", timeout=60)
        assert promoted(final, new)
        bg = blue_green(final)
        assert bg["prePromotionAnalysisRunStatus"]["status"] == "Successful"
        assert bg["postPromotionAnalysisRunStatus"] == {
            **bg["postPromotionAnalysisRunStatus"], "name": post_name, "status": "Successful"}
        wait_for(lambda: replicas(cluster, namespace) == {old: 0, new: 2}, 40,
                 "blue scaled down", lambda: replicas(cluster, namespace))


def test_pre_promotion_analysis_failure_aborts_and_never_switches(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, job_template("bad", fail=True), *services_for("pref"),
              bluegreen_rollout("pref", abortScaleDownDelaySeconds=2,
                                prePromotionAnalysis=analysis("bad")))
        old = wait_phase(cluster, namespace, "pref", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "pref", "app:2")
        pre_name = _run_name(cluster, namespace, "pref", new, "pre")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert selectors(cluster, namespace, "pref")[0] == old, "active switched"
            status = rollout_status(cluster, namespace, "pref")
            if status.get("phase") == "Degraded":
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"never aborted; last status {status}")
        assert status["abort"] is True and str(status["message"]).startswith("RolloutAborted")
        assert status["stableRS"] == old
        run_status = blue_green(status)["prePromotionAnalysisRunStatus"]
        assert run_status["name"] == pre_name and run_status["status"] == "Failed"
        assert run_phase(analysis_runs(cluster, namespace)[pre_name]) == "Failed"
        wait_for(lambda: selectors(cluster, namespace, "pref") == (old, old), 30,
                 "both services on blue", lambda: selectors(cluster, namespace, "pref"))
        wait_for(lambda: replicas(cluster, namespace) == {old: 2, new: 0}, 30,
                 "green scaled down after the abort delay", lambda: replicas(cluster, namespace))
        assert rollout_status(cluster, namespace, "pref")["stableRS"] == old


def test_post_promotion_analysis_failure_switches_active_back(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, job_template("bad", fail=True, run_ms=2000),
              *services_for("postf"),
              bluegreen_rollout("postf", scaleDownDelaySeconds=2, abortScaleDownDelaySeconds=2,
                                postPromotionAnalysis=analysis("bad")))
        old = wait_phase(cluster, namespace, "postf", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "postf", "app:2")
        post_name = _run_name(cluster, namespace, "postf", new, "post")
        wait_active(cluster, namespace, "postf-active", new)
        # Not stable yet: blue keeps its pods (no scale-down delay runs for it).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert replicas(cluster, namespace)[old] == 2, "blue scaled down before stable"
            status = rollout_status(cluster, namespace, "postf")
            assert status.get("stableRS") == old, "stable before the post-promotion analysis"
            if status.get("phase") == "Degraded":
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"never aborted; last status {status}")
        assert status["abort"] is True and str(status["message"]).startswith("RolloutAborted")
        run_status = blue_green(status)["postPromotionAnalysisRunStatus"]
        assert run_status["name"] == post_name and run_status["status"] == "Failed"
        wait_active(cluster, namespace, "postf-active", old, timeout=30)
        wait_for(lambda: selectors(cluster, namespace, "postf") == (old, old), 30,
                 "both services back on blue", lambda: selectors(cluster, namespace, "postf"))
        assert blue_green(rollout_status(cluster, namespace, "postf"))["activeSelector"] == old
        wait_for(lambda: replicas(cluster, namespace) == {old: 2, new: 0}, 30,
                 "green scaled down after the abort delay", lambda: replicas(cluster, namespace))


def test_promote_after_a_successful_pre_promotion_analysis_switches(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    """autoPromotionEnabled false with a previewReplicaCount: the pre-promotion run
    succeeds, the rollout pauses, and a plain `promote` scales green up and switches the
    active Service (it once paused again: the promotion checkpoint went to a status
    section that recording the run had replaced, and was lost on the pass that scaled up)."""
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, job_template("quick", run_ms=1500), *services_for("man"),
              bluegreen_rollout("man", replicas=3, autoPromotionEnabled=False,
                                previewReplicaCount=1, scaleDownDelaySeconds=2,
                                prePromotionAnalysis=analysis("quick")))
        old = wait_phase(cluster, namespace, "man", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "man", "app:2")
        pre_name = _run_name(cluster, namespace, "man", new, "pre")
        wait_status(cluster, namespace, "man",
                    lambda s: (blue_green(s).get("prePromotionAnalysisRunStatus") or {})
                    .get("status") == "Successful" and bool(s.get("pauseConditions")),
                    "paused after a successful pre-promotion run", 90)
        assert selectors(cluster, namespace, "man")[0] == old
        result = rollouts_cli(cluster, "promote", "man", "-n", namespace)
        assert result.returncode == 0, result.stderr
        wait_active(cluster, namespace, "man-active", new, timeout=30)
        final = wait_status(cluster, namespace, "man",
                            lambda s: promoted(s, new) and s.get("phase") == "Healthy",
                            "promoted", 60)
        assert not final.get("pauseConditions")
        assert run_phase(analysis_runs(cluster, namespace)[pre_name]) == "Successful"


def test_promote_full_skips_the_pause_and_the_pre_promotion_analysis(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, job_template("slow", run_ms=120_000), *services_for("full"),
              bluegreen_rollout("full", autoPromotionEnabled=False, scaleDownDelaySeconds=2,
                                prePromotionAnalysis=analysis("slow")))
        old = wait_phase(cluster, namespace, "full", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "full", "app:2")
        pre_name = _run_name(cluster, namespace, "full", new, "pre")
        _wait_run(cluster, namespace, pre_name)
        assert selectors(cluster, namespace, "full")[0] == old
        result = rollouts_cli(cluster, "promote", "full", "--full", "-n", namespace)
        assert result.returncode == 0, result.stderr
        wait_active(cluster, namespace, "full-active", new, timeout=30)
        final = wait_status(cluster, namespace, "full",
                            lambda s: promoted(s, new) and s.get("phase") == "Healthy",
                            "fully promoted", 60)
        assert not final.get("pauseConditions")

        def run_stopped() -> bool:
            run = analysis_runs(cluster, namespace).get(pre_name)
            return run is None or bool(run["spec"].get("terminate")) \
                or run_phase(run) in FINISHED

        wait_for(run_stopped, 30, "the skipped pre-promotion run to be terminated")
        wait_for(lambda: replicas(cluster, namespace) == {old: 0, new: 2}, 40,
                 "blue scaled down", lambda: replicas(cluster, namespace))


def test_finished_analysis_runs_beyond_the_history_limits_are_deleted(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    """Argo's rule: runs of the current revision are kept; of the others, the newest
    `successfulRunHistoryLimit` Successful and `unsuccessfulRunHistoryLimit`
    Failed/Error/Inconclusive runs are kept, the older finished ones deleted."""
    name = "gc"
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, job_template("pass"), job_template("fail", fail=True),
              *services_for(name),
              bluegreen_rollout(name, scaleDownDelaySeconds=1, abortScaleDownDelaySeconds=1,
                                prePromotionAnalysis=analysis("pass"),
                                spec={"analysis": {"successfulRunHistoryLimit": 1,
                                                   "unsuccessfulRunHistoryLimit": 1}}))
        wait_phase(cluster, namespace, name, "Healthy")
        runs: dict[int, str] = {}

        def deploy(image: str, template: str, outcome: str) -> None:
            before = rollout_status(cluster, namespace, name).get("currentPodHash")
            patch_rollout(cluster, namespace, name, {"spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
                "strategy": {"blueGreen": {"prePromotionAnalysis": analysis(template)}}}})
            status = wait_status(
                cluster, namespace, name,
                lambda s: s.get("currentPodHash") not in (None, before)
                and s.get("phase") == outcome
                and (s.get("stableRS") == s.get("currentPodHash") if outcome == "Healthy"
                     else _pre_failed_for(s, str(s.get("currentPodHash")))),
                f"{image} to end {outcome}", 60)
            pod_hash = str(status["currentPodHash"])
            revision = int(str(image.split(":")[1]))
            runs[revision] = f"{name}-{pod_hash}-{revision_of(cluster, namespace, pod_hash)}-pre"
            assert revision_of(cluster, namespace, pod_hash) == revision

        deploy("app:2", "pass", "Healthy")
        deploy("app:3", "pass", "Healthy")
        deploy("app:4", "fail", "Degraded")
        deploy("app:5", "fail", "Degraded")
        deploy("app:6", "pass", "Healthy")
        # Current: 6. Others, newest first: 5 (failed, kept), 4 (failed, deleted),
        # 3 (successful, kept), 2 (successful, deleted).
        expected = {runs[6], runs[5], runs[3]}
        wait_for(lambda: set(analysis_runs(cluster, namespace)) == expected, 30,
                 f"only {sorted(expected)} kept",
                 lambda: {n: run_phase(r) for n, r in analysis_runs(cluster, namespace).items()})
        phases = {n: run_phase(r) for n, r in analysis_runs(cluster, namespace).items()}
        assert phases == {runs[6]: "Successful", runs[5]: "Failed", runs[3]: "Successful"}
