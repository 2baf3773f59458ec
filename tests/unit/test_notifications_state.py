"""Once per event: the notified annotation, planning, and settling what was sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rollouts.notifications.catalog import BUILTIN_ROLLOUT_DATA
from rollouts.notifications.config import (
    APPLICATION_CONFIG,
    ROLLOUT_CONFIG,
    NotificationConfig,
    parse_config,
)
from rollouts.notifications.plan import EventView, Outcome, plan_application, plan_rollout, settle
from rollouts.notifications.retry import RetryPolicy
from rollouts.notifications.state import (
    NOTIFIED_ANNOTATION,
    RETRIES_ANNOTATION,
    annotation_patch,
    read_notified,
    read_retries,
    state_key,
    truncate,
)
from rollouts.notifications.subscriptions import Destination
from rollouts.notifications.triggers import APPLICATION_NAMES, ROLLOUT_NAMES, condition_key

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
P = "notifications.argoproj.io/subscribe."
WHEN = "app.status.operationState.phase in ['Succeeded']"


def _app_config(once_per: str = "") -> NotificationConfig:
    trigger = f"- when: {WHEN}\n  send: [done]\n"
    if once_per:
        trigger += f"  oncePer: {once_per}\n"
    return parse_config({"service.webhook.hook": "url: http://127.0.0.1:9/x",
                         "template.done": "message: ok", "trigger.on-sync-succeeded": trigger},
                        {}, names=APPLICATION_CONFIG, variables=APPLICATION_NAMES)


def _app(phase: str, annotations: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"name": "guestbook", "annotations": {
                P + "on-sync-succeeded.hook": "", **(annotations or {})}},
            "status": {"operationState": {"phase": phase,
                                          "syncResult": {"revision": "abc"}}}}


def _store(app: dict[str, object], plan,  # type: ignore[no-untyped-def]
           live: frozenset[str] | set[str] = frozenset()) -> dict[str, object]:
    """The app with the plan's state written into its annotations (as the controller)."""
    meta = dict(app["metadata"])  # type: ignore[arg-type]
    annotations = dict(meta["annotations"])
    for key, value in annotation_patch(annotations, plan.notified, plan.retries,
                                       live).items():
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
    meta["annotations"] = annotations
    return {**app, "metadata": meta}


KEY = state_key("on-sync-succeeded", condition_key(0, WHEN), Destination("hook"))


class TestTheAnnotationFormat:
    def test_argo_keys_and_unix_seconds(self) -> None:
        assert KEY.startswith("on-sync-succeeded:[0].") and KEY.endswith(":hook:")
        assert state_key("t", "[0].x", Destination("slack", "c"), "rev1") == "rev1:t:[0].x:slack:c"
        patch = annotation_patch({}, {KEY: 1733313600}, {})
        assert json.loads(patch[NOTIFIED_ANNOTATION] or "") == {KEY: 1733313600}
        assert RETRIES_ANNOTATION not in patch

    def test_garbage_reads_as_empty_and_history_keeps_the_newest_100(self) -> None:
        assert read_notified({NOTIFIED_ANNOTATION: "{not json"}) == {}
        assert read_retries({RETRIES_ANNOTATION: '{"k": {"attempts": "x"}}'}) == {}
        kept = truncate({f"k{i}": i for i in range(150)})
        assert len(kept) == 100 and "k49" not in kept and "k50" in kept
        kept = truncate({f"k{i}": i for i in range(150)}, live={"k0", "k1"})
        assert len(kept) == 102 and {"k0", "k1", "k50"} <= kept.keys() and "k2" not in kept

    def test_nothing_to_write_when_stored_already(self) -> None:
        stored = annotation_patch({}, {KEY: 5}, {})
        assert annotation_patch(stored, {KEY: 5}, {}) == {}  # type: ignore[arg-type]


class TestApplicationsOncePerCondition:
    def test_a_succeeded_sync_is_due_once_then_recorded(self) -> None:
        config = _app_config()
        plan = plan_application(_app("Succeeded"), config, NOW)
        (delivery,) = plan.deliveries
        assert delivery.key == KEY and delivery.attempt == 0
        assert settle(plan, [(delivery, Outcome(True))], {}, NOW) == []
        again = plan_application(_store(_app("Succeeded"), plan), config, NOW)
        assert again.deliveries == []

    def test_the_entry_is_forgotten_when_the_condition_turns_false(self) -> None:
        config = _app_config()
        plan = plan_application(_app("Succeeded"), config, NOW)
        settle(plan, [(plan.deliveries[0], Outcome(True))], {}, NOW)
        running = plan_application(_store(_app("Running"), plan), config, NOW)
        assert running.deliveries == [] and running.notified == {}
        stored = _store(_store(_app("Running"), plan), running)
        assert len(plan_application(stored, config, NOW).deliveries) == 0  # still Running
        assert len(plan_application({**stored, "status": _app("Succeeded")["status"]},
                                    config, NOW).deliveries) == 1

    def test_once_per_keeps_the_entry_per_value(self) -> None:
        config = _app_config("app.status.operationState.syncResult.revision")
        plan = plan_application(_app("Succeeded"), config, NOW)
        assert plan.deliveries[0].key.startswith("abc:on-sync-succeeded:")
        settle(plan, [(plan.deliveries[0], Outcome(True))], {}, NOW)
        running = plan_application(_store(_app("Running"), plan), config, NOW)
        assert list(running.notified) == [plan.deliveries[0].key]

    def test_unconfigured_services_and_triggers_are_problems_not_deliveries(self) -> None:
        app = _app("Succeeded", {P + "on-sync-succeeded.nowhere": "", P + "on-x.hook": ""})
        plan = plan_application(app, _app_config(), NOW)
        assert len(plan.deliveries) == 1
        assert any("'nowhere', which is not configured" in p for p in plan.problems)
        assert any("trigger on-x is subscribed to but not configured" in p
                   for p in plan.problems)


class TestRetriesAcrossPasses:
    def test_failed_attempts_back_off_then_give_up(self) -> None:
        config = _app_config()
        policy = {"hook": RetryPolicy(wait_min=1, wait_max=5, retry_max=2)}
        app, now = _app("Succeeded"), NOW
        for attempt, delay in ((0, 1.0), (1, 2.0)):
            plan = plan_application(app, config, now)
            (delivery,) = plan.deliveries
            assert delivery.attempt == attempt
            assert settle(plan, [(delivery, Outcome(False, True, "HTTP 503"))], policy,
                          now) == []
            assert plan.wake_at == now.timestamp() + delay
            app = _store(app, plan)
            assert plan_application(app, config, now).deliveries == []  # not yet due
            now += timedelta(seconds=delay)
        plan = plan_application(app, config, now)
        (given_up,) = settle(plan, [(plan.deliveries[0], Outcome(False, True, "HTTP 503"))],
                             policy, now)
        assert given_up.reason == "HTTP 503" and plan.retries == {}
        assert plan_application(_store(app, plan), config, now).deliveries == []

    def test_an_error_no_retry_fixes_is_given_up_at_once(self) -> None:
        plan = plan_application(_app("Succeeded"), _app_config(), NOW)
        (given_up,) = settle(plan, [(plan.deliveries[0], Outcome(False, False, "HTTP 404"))],
                             {}, NOW)
        assert given_up.reason == "HTTP 404"
        assert KEY in plan.notified


def _rollout(**annotations: str) -> dict[str, object]:
    return {"metadata": {"name": "web", "uid": "u1",
                         "annotations": {P + k: v for k, v in annotations.items()}},
            "spec": {"strategy": {"canary": {"steps": []}}}, "status": {"abort": True}}


ROLLOUT_CFG = parse_config({**BUILTIN_ROLLOUT_DATA, "service.webhook.hook": "url: http://h/"},
                           {}, names=ROLLOUT_CONFIG, variables=ROLLOUT_NAMES)


class TestRolloutsOncePerEvent:
    def test_each_event_is_due_once_under_its_own_name(self) -> None:
        rollout = _rollout(**{"on-rollout-aborted.hook": ""})
        events = [EventView("web.1", "RolloutAborted", NOW - timedelta(seconds=5), message="r1"),
                  EventView("web.2", "RolloutUpdated", NOW),
                  EventView("web.3", "RolloutAborted", NOW, message="r2")]
        plan = plan_rollout(rollout, events, ROLLOUT_CFG, NOW, settle=2.0)
        assert [d.key.split(":")[0] for d in plan.deliveries] == ["web.1", "web.3"]
        assert [d.not_before for d in plan.deliveries] == [NOW.timestamp() - 3,
                                                           NOW.timestamp() + 2]
        settle(plan, [(d, Outcome(True)) for d in plan.deliveries], {}, NOW)
        assert plan_rollout(_store(rollout, plan), events, ROLLOUT_CFG, NOW).deliveries == []

    def test_an_event_recorded_again_after_a_conflict_notifies_once(self) -> None:
        rollout = _rollout(**{"on-rollout-aborted.hook": ""})
        told_twice = [EventView("web.a", "RolloutAborted", NOW, message="Metric failed"),
                      EventView("web.b", "RolloutAborted", NOW + timedelta(seconds=1),
                                message="Metric failed"),
                      EventView("web.c", "RolloutAborted", NOW + timedelta(minutes=5),
                                message="Metric failed")]
        plan = plan_rollout(rollout, told_twice, ROLLOUT_CFG, NOW + timedelta(minutes=5))
        assert [d.key.split(":")[0] for d in plan.deliveries] == ["web.a", "web.c"]

    def test_over_100_fresh_pairs_are_all_kept_so_the_next_pass_sends_nothing(self) -> None:
        # 20 fresh Events x 6 recipients = 120 entries: dropping any by count made it due
        # again on every pass (and each annotation write requeued the Rollout).
        rollout = _rollout(**{"on-rollout-aborted.hook": "a;b;c;d;e;f"})
        events = [EventView(f"web.{i}", "RolloutAborted", NOW - timedelta(seconds=i),
                            message=f"m{i}") for i in range(20)]
        plan = plan_rollout(rollout, events, ROLLOUT_CFG, NOW)
        assert len(plan.deliveries) == 120
        settle(plan, [(d, Outcome(True)) for d in plan.deliveries], {}, NOW)
        stored = _store(rollout, plan, live=plan.live)
        assert plan_rollout(stored, events, ROLLOUT_CFG, NOW).deliveries == []

    def test_two_analysis_runs_failing_alike_notify_twice(self) -> None:
        # AnalysisRun Event messages do not name the run: only the involved uid differs.
        rollout = _rollout(**{"on-analysis-run-failed.hook": ""})
        runs = [EventView("web-1.a", "AnalysisRunFailed", NOW, message="Metric failed",
                          kind="AnalysisRun", uid="run-1"),
                EventView("web-2.b", "AnalysisRunFailed", NOW + timedelta(seconds=3),
                          message="Metric failed", kind="AnalysisRun", uid="run-2")]
        plan = plan_rollout(rollout, runs, ROLLOUT_CFG, NOW + timedelta(seconds=3))
        assert [d.key.split(":")[0] for d in plan.deliveries] == ["web-1.a", "web-2.b"]

    def test_a_rollout_event_is_sent_once_someone_else_wrote_the_rollout_after_it(
            self) -> None:
        rollout = _rollout(**{"on-rollout-aborted.hook": "", "on-analysis-run-failed.hook": ""})
        events = [EventView("web.1", "RolloutAborted", NOW, message="m", version="10"),
                  EventView("run.1", "AnalysisRunFailed", NOW, kind="AnalysisRun",
                            uid="r1", version="10")]
        def due(others_wrote: int) -> list[float]:
            return [d.not_before for d in plan_rollout(rollout, events, ROLLOUT_CFG, NOW,
                                                       settle=2.0,
                                                       others_wrote=others_wrote).deliveries]
        later = NOW.timestamp() + 2
        assert due(11) == [later, 0.0]  # a run's Event waits; the status write is in
        assert due(10) == [later, later]  # not yet written since the Event
        assert due(0) == [later, later]  # the last write was ours (or unknown)

    def test_old_events_are_history(self) -> None:
        rollout = _rollout(**{"on-rollout-aborted.hook": ""})
        old = [EventView("web.1", "RolloutAborted", NOW - timedelta(hours=1))]
        assert plan_rollout(rollout, old, ROLLOUT_CFG, NOW).deliveries == []

    def test_a_when_over_the_rollout_filters_and_once_per_replaces_the_event(self) -> None:
        config = parse_config({
            "service.webhook.hook": "url: http://h/", "template.t": "message: x",
            "trigger.on-rollout-aborted": "- when: rollout.status.abort == true\n"
                                          "  oncePer: rollout.metadata.uid\n  send: [t]\n",
        }, {}, names=ROLLOUT_CONFIG, variables=ROLLOUT_NAMES)
        rollout = _rollout(**{"on-rollout-aborted.hook": ""})
        events = [EventView("web.1", "RolloutAborted", NOW),
                  EventView("web.2", "RolloutAborted", NOW)]
        plan = plan_rollout(rollout, events, config, NOW)
        assert [d.key.split(":")[0] for d in plan.deliveries] == ["u1"]
