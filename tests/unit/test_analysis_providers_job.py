"""The Job provider: names, the Job it creates, how it reads a Job's end, and its
create -> poll -> result cycle against a fake API (the real one: tests/integration)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.providers.base import MeasureContext
from analysis.providers.job import (
    JOB_NAME_KEY,
    NAME_LABEL,
    UID_LABEL,
    JobProvider,
    job_manifest,
    job_name,
    job_result,
    label_value,
    poll_delay,
)
from rollouts.kube import (
    JOB,
    AlreadyExists,
    Conflict,
    Invalid,
    Kind,
    KubeClient,
    NotFound,
    Unavailable,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
SPEC = {"backoffLimit": 0, "template": {"spec": {
    "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}


def context(previous: dict[str, Any] | None = None, number: int | None = None,
            job: dict[str, Any] | None = None, now: datetime = NOW) -> MeasureContext:
    metric = {"name": "smoke-test", "provider": {"job": job or {"spec": SPEC}}}
    return MeasureContext(namespace="ns", run_name="web-6f7d8-2-1", run_uid=UID, metric=metric,
                          previous=previous, now=now, measurement_number=number)


class FakeKube:
    """Jobs in a dict: enough of `KubeClient` for the provider."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.fail_with: Exception | None = None
        self.deleted: list[tuple[str, str]] = []

    def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        assert kind == JOB
        if self.fail_with is not None:
            raise self.fail_with
        name = body["metadata"]["name"]
        if name in self.jobs:
            raise AlreadyExists(f'jobs.batch "{name}" already exists', 409, "AlreadyExists")
        self.jobs[name] = body
        return body

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        if name not in self.jobs:
            raise NotFound(f'jobs.batch "{name}" not found', 404, "NotFound")
        return self.jobs[name]

    def delete(self, kind: Kind, namespace: str, name: str, propagation: str = "",
               uid: str | None = None) -> bool:
        if uid is not None and self.jobs.get(name, {}).get("metadata", {}).get("uid") != uid:
            raise Conflict("precondition failed: uid", 409, "Conflict")
        self.deleted.append((name, propagation))
        return self.jobs.pop(name, None) is not None

    def finish(self, name: str, condition: str, reason: str = "", message: str = "") -> None:
        self.jobs[name]["status"] = {"conditions": [
            {"type": "SuccessCriteriaMet" if condition == "Complete" else "FailureTarget",
             "status": "True"},
            {"type": condition, "status": "True", "reason": reason, "message": message}]}


def provider(kube: FakeKube) -> JobProvider:
    fake: Any = kube
    client: KubeClient = fake
    return JobProvider(client)


# --- names ---------------------------------------------------------------------------------

class TestJobNames:
    def test_run_uid_metric_and_number(self) -> None:
        assert job_name("web-6f7d8-2-1", UID, "smoke-test", 3) == "web-6f7d8-2-1-3fa85.smoke-test.3"

    def test_metric_names_are_made_dns_safe(self) -> None:
        name = job_name("r", UID, "Success_Rate (p99)", 1)
        assert re.fullmatch(r"r-3fa85\.success-rate-p99-[0-9a-f]{6}\.1", name)
        assert re.fullmatch(r"r-3fa85\.metric-[0-9a-f]{6}\.1", job_name("r", UID, "___", 1))

    def test_metrics_that_differ_only_in_punctuation_get_different_jobs(self) -> None:
        names = {job_name("r", UID, metric, 1) for metric in ("a_b", "a.b", "a-b", "A-B")}
        assert len(names) == 4

    def test_a_recreated_run_of_the_same_name_gets_other_job_names(self) -> None:
        other = "9c1d2e3f-0000-4000-8000-000000000000"
        assert job_name("r", UID, "m", 1) != job_name("r", other, "m", 1)

    def test_long_names_keep_the_number_and_are_hashed(self) -> None:
        name = job_name("a" * 60 + ".b", UID, "m" * 40, 12)
        assert len(name) == 63 and name.endswith(".12")
        assert DNS_SUBDOMAIN.fullmatch(name)
        assert name != job_name("a" * 60 + ".b", UID, "m" * 41, 12)

    @given(
        run=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,80}[a-z0-9])?(\.[a-z0-9]{1,20}){0,2}",
                          fullmatch=True),
        uid=st.uuids().map(str),
        metric=st.text(min_size=1, max_size=80),
        number=st.integers(min_value=1, max_value=10**6),
    )
    def test_every_name_is_a_valid_short_dns_subdomain(self, run: str, uid: str, metric: str,
                                                       number: int) -> None:
        name = job_name(run, uid, metric, number)
        assert len(name) <= 63
        assert DNS_SUBDOMAIN.fullmatch(name), name
        assert name.endswith(f".{number}")

    @given(st.text(max_size=300))
    def test_label_values_are_always_valid(self, text: str) -> None:
        value = label_value(text)
        assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), value

    def test_short_label_values_are_kept(self) -> None:
        assert label_value("web-6f7d8-2-1") == "web-6f7d8-2-1"


# --- the Job -------------------------------------------------------------------------------

class TestTheJob:
    def test_owned_by_the_run_and_labelled(self) -> None:
        job = job_manifest(context(job={"metadata": {"labels": {"team": "a"},
                                                     "annotations": {"note": "x"}},
                                        "spec": SPEC}), "the-name")
        meta = job["metadata"]
        assert (job["apiVersion"], job["kind"], meta["name"], meta["namespace"]) == (
            "batch/v1", "Job", "the-name", "ns")
        assert meta["ownerReferences"] == [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "name": "web-6f7d8-2-1",
            "uid": UID, "controller": True, "blockOwnerDeletion": True}]
        assert meta["labels"] == {"team": "a", NAME_LABEL: "web-6f7d8-2-1", UID_LABEL: UID}
        assert meta["annotations"]["note"] == "x"
        assert meta["annotations"]["analysisrun.argoproj.io/metric-name"] == "smoke-test"
        assert job["spec"] == SPEC and job["spec"] is not SPEC

    def test_a_metric_without_a_spec_is_an_error(self) -> None:
        outcome = provider(FakeKube()).measure(context(job={"metadata": {}}))
        assert outcome.error is not None and "provider.job.spec" in outcome.error

    @pytest.mark.parametrize(("conditions", "expected"), [
        ([], (None, "")),
        ([{"type": "Complete", "status": "True"}], (True, "")),
        ([{"type": "Complete", "status": "False"}], (None, "")),
        ([{"type": "FailureTarget", "status": "True"}], (None, "")),
        ([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
           "message": "Job has reached the specified backoff limit"}],
         (False, "BackoffLimitExceeded: Job has reached the specified backoff limit")),
    ])
    def test_only_complete_or_failed_end_it(self, conditions: list[dict[str, str]],
                                            expected: tuple[bool | None, str]) -> None:
        assert job_result({"status": {"conditions": conditions}}) == expected

    @pytest.mark.parametrize(("age", "seconds"), [(None, 1), (0, 1), (5, 1), (30, 3), (600, 10)])
    def test_polling_slows_down_with_age(self, age: int | None, seconds: float) -> None:
        started = None if age is None else NOW - timedelta(seconds=age)
        assert poll_delay(started, NOW) == timedelta(seconds=seconds)


# --- the cycle -----------------------------------------------------------------------------

def running(name: str, started: datetime = NOW) -> dict[str, Any]:
    return {"phase": "Running", "startedAt": started.isoformat().replace("+00:00", "Z"),
            "metadata": {JOB_NAME_KEY: name}}


class TestTheCycle:
    def test_create_then_poll_until_complete(self) -> None:
        kube = FakeKube()
        started = provider(kube).measure(context(number=1))
        name = "web-6f7d8-2-1-3fa85.smoke-test.1"
        assert started == type(started)(pending=True, resume_at=NOW + timedelta(seconds=1),
                                        metadata={JOB_NAME_KEY: name})
        assert list(kube.jobs) == [name]
        later = NOW + timedelta(seconds=40)
        still = provider(kube).measure(context(previous=running(name), now=later))
        assert still.pending and still.resume_at == later + timedelta(seconds=4)
        kube.finish(name, "Complete")
        done = provider(kube).measure(context(previous=running(name), now=later))
        assert (done.value, done.pending, done.error) == (True, False, None)
        assert done.metadata == {JOB_NAME_KEY: name}

    def test_a_failed_job_is_false_with_the_reason(self) -> None:
        kube = FakeKube()
        name = provider(kube).measure(context(number=2)).metadata[JOB_NAME_KEY]
        kube.finish(name, "Failed", "BackoffLimitExceeded", "backoff limit")
        outcome = provider(kube).measure(context(previous=running(name)))
        assert outcome.value is False and outcome.error is None
        assert outcome.metadata["job-failure"] == "BackoffLimitExceeded: backoff limit"

    def test_a_finished_previous_measurement_starts_the_next_job(self) -> None:
        kube = FakeKube()
        previous = {"phase": "Successful", "finishedAt": "2024-05-01T11:59:00Z",
                    "metadata": {JOB_NAME_KEY: "web-6f7d8-2-1-3fa85.smoke-test.4"}}
        outcome = provider(kube).measure(context(previous=previous))
        assert outcome.metadata[JOB_NAME_KEY] == "web-6f7d8-2-1-3fa85.smoke-test.5"

    def test_a_create_retried_after_a_crash_adopts_our_job(self) -> None:
        kube = FakeKube()
        first = provider(kube).measure(context(number=1))
        again = provider(kube).measure(context(number=1))
        assert again.pending and again.metadata == first.metadata and len(kube.jobs) == 1

    def test_a_job_of_that_name_owned_by_another_is_an_error(self) -> None:
        kube = FakeKube()
        name = "web-6f7d8-2-1-3fa85.smoke-test.1"
        kube.jobs[name] = {"metadata": {"name": name, "ownerReferences": [
            {"kind": "AnalysisRun", "uid": "someone-else", "controller": True}]}}
        outcome = provider(kube).measure(context(number=1))
        assert outcome.error is not None and "does not belong" in outcome.error

    def test_a_refused_create_is_an_error_measurement(self) -> None:
        kube = FakeKube()
        kube.fail_with = Invalid("Job.batch is invalid: spec.template.spec.restartPolicy: "
                                 "Unsupported value: Always")
        outcome = provider(kube).measure(context(number=1))
        assert outcome.error is not None and "restartPolicy" in outcome.error

    def test_a_job_deleted_underneath_is_an_error(self) -> None:
        outcome = provider(FakeKube()).measure(context(previous=running("gone.m.1")))
        assert outcome.error is not None and "no longer exists" in outcome.error
        assert outcome.metadata == {JOB_NAME_KEY: "gone.m.1"}

    def test_an_unreachable_api_server_keeps_the_measurement_running(self) -> None:
        kube = FakeKube()
        name = provider(kube).measure(context(number=1)).metadata[JOB_NAME_KEY]
        kube.fail_with = Unavailable("connection refused")
        outcome = provider(kube).measure(context(previous=running(name)))
        assert outcome.pending and outcome.error is None

    def test_terminate_deletes_the_running_job_in_the_background(self) -> None:
        kube = FakeKube()
        name = provider(kube).measure(context(number=1)).metadata[JOB_NAME_KEY]
        provider(kube).terminate(context(previous=running(name)))
        assert kube.deleted == [(name, "Background")] and not kube.jobs
        provider(kube).terminate(context(previous=None))  # nothing running: nothing to do
        assert len(kube.deleted) == 1

    @pytest.mark.parametrize("owners", [
        [],
        [{"kind": "AnalysisRun", "name": "web-6f7d8-2-1", "uid": "other", "controller": True}],
        [{"kind": "Rollout", "name": "web", "uid": UID, "controller": True}],
    ], ids=["no-owner", "another-run", "not-a-run"])
    def test_terminate_leaves_a_job_the_run_does_not_own(self, owners: list[Any]) -> None:
        kube = FakeKube()
        kube.jobs["precious"] = {"metadata": {"name": "precious", "ownerReferences": owners}}
        provider(kube).terminate(context(previous=running("precious")))
        assert kube.deleted == [] and "precious" in kube.jobs

    def test_terminate_of_a_job_already_gone_is_quiet(self) -> None:
        kube = FakeKube()
        provider(kube).terminate(context(previous=running("gone")))
        assert kube.deleted == []
