"""The `job` metric provider: a Kubernetes Job per measurement; success = the Job completed.

```yaml
provider:
  job:
    metadata: {labels: {team: a}, annotations: {note: smoke}}   # optional, for the Job
    spec:                                                      # a batch/v1 JobSpec
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers: [{name: smoke, image: curlimages/curl, args: ["{{args.url}}"]}]
```

A measurement is two or more calls of `measure`:

1. no Job yet (`previous` has no running `job-name`): create the Job in the run's
   namespace, owned by the AnalysisRun (controller reference, so deleting the run deletes
   its Jobs), labelled `analysisrun.argoproj.io/name` and `.../uid`, annotated with the
   run and metric names; answer `pending` with `metadata={"job-name": ...}` and
   `resume_at=now+1s`;
2. `previous` is that Running measurement: read the Job. Condition `Complete` -> `True`,
   `Failed` -> `False` (a Failed measurement), otherwise pending again. The poll interval
   grows with the measurement's age (a tenth of it, between 1 s and 10 s), so a Job of a
   few seconds is seen at once and a Job of ten minutes costs a GET every 10 s, not every
   second.

Job names are `<run-name>-<uid5>.<metric>.<n>`: `uid5`, the first five characters of the
run's uid, keeps a re-created run of the same name (`rollouts retry`) clear of the Jobs of
its predecessor that the garbage collector has not removed yet; `n` is the measurement's
number, so a create retried after a crash finds the Job it made before (AlreadyExists with
our run as controller: adopted, as Argo does). Names are DNS-1123 subdomains of at most 63
characters (the Job controller copies the name into a pod label): longer ones keep `.<n>`
and trade their end for a hash. `terminate` deletes the Job (background propagation),
but only a Job whose ownerReferences name this AnalysisRun by uid: the Job name comes
from the run's status, which whoever can edit the run can point at any Job.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from analysis.providers.base import MeasureContext, Outcome, scrub
from rollouts.kube import JOB, AlreadyExists, Conflict, KubeClient, KubeError, NotFound

__all__ = [
    "JOB_NAME_KEY",
    "METRIC_ANNOTATION",
    "NAME_LABEL",
    "UID_LABEL",
    "JobProvider",
    "job_manifest",
    "job_name",
    "job_result",
    "label_value",
    "poll_delay",
]

JOB_NAME_KEY = "job-name"
NAME_LABEL = "analysisrun.argoproj.io/name"
UID_LABEL = "analysisrun.argoproj.io/uid"
METRIC_ANNOTATION = "analysisrun.argoproj.io/metric-name"
MAX_NAME = 63
log = logging.getLogger(__name__)
_COMPLETED_PHASES = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NUMBER_SUFFIX = re.compile(r"\.(\d+)$")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def job_name(run_name: str, run_uid: str, metric_name: str, number: int) -> str:
    """`<run-name>-<uid5>.<metric>.<n>`, a DNS-1123 subdomain of at most 63 characters.

    >>> job_name("web-6f7d8-2-1", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "success-rate", 1)
    'web-6f7d8-2-1-3fa85.success-rate.1'

    A metric name that is not already DNS-safe is lowercased, anything but `a-z0-9-`
    turned into `-`, and a hash of the original appended (so `a_b` and `a.b` differ); a name
    over 63 characters keeps `.<n>` and replaces its excess with a hash of the whole.
    """
    metric = _NOT_DNS.sub("-", metric_name.lower()).strip("-") or "metric"
    if metric != metric_name:  # keep `a_b` and `a.b` (two metrics of one run) apart
        metric = f"{metric}-{_short_hash(metric_name)[:6]}"
    uid = re.sub(r"[^a-z0-9]", "", run_uid.lower())[:5]
    run = run_name.lower().strip("-.") or "run"
    head = f"{run}-{uid}.{metric}" if uid else f"{run}.{metric}"
    tail = f".{number}"
    if len(head) + len(tail) <= MAX_NAME:
        return head + tail
    digest = _short_hash(head)
    keep = MAX_NAME - len(tail) - len(digest) - 1
    return f"{head[:keep].rstrip('-.')}-{digest}{tail}"


def label_value(text: str) -> str:
    """`text` as a label value (at most 63 characters; shortened with a hash if longer)."""
    if len(text) <= MAX_NAME and _LABEL_VALUE.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)
    digest = _short_hash(text)
    head = cleaned[: MAX_NAME - len(digest) - 1].strip("-_.")
    return f"{head}-{digest}" if head else digest


def job_manifest(context: MeasureContext, name: str) -> dict[str, Any]:
    """The Job for one measurement of `context.metric` (raises `ValueError` without a spec)."""
    provider = context.provider_spec("job")
    spec = provider.get("spec")
    if not isinstance(spec, dict) or not spec:
        raise ValueError("provider.job.spec is missing: give a JobSpec (template, restartPolicy)")
    raw_meta = provider.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    labels[NAME_LABEL] = label_value(context.run_name)
    labels[UID_LABEL] = label_value(context.run_uid)
    annotations[NAME_LABEL] = context.run_name
    annotations[METRIC_ANNOTATION] = context.metric_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": context.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "name": context.run_name,
                "uid": context.run_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }],
        },
        "spec": copy.deepcopy(spec),
    }


def job_result(job: dict[str, Any]) -> tuple[bool | None, str]:
    """(True, "") once the Job completed, (False, reason) once it failed, else (None, "")."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return True, ""
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or ""
            return False, f"{reason}: {message}" if message else str(reason)
    return None, ""


def poll_delay(started_at: datetime | None, now: datetime) -> timedelta:
    """How long to wait before looking at a running Job again: a tenth of its age, 1-10 s."""
    age = (now - started_at).total_seconds() if started_at is not None else 0.0
    return timedelta(seconds=min(10.0, max(1.0, age / 10)))


class JobProvider:
    """Runs a Job per measurement through `client` and reports whether it completed."""

    kind = "job"

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def measure(self, context: MeasureContext) -> Outcome:
        name = _running_job(context.previous)
        if name is None:
            return self._start(context)
        return self._check(context, name)

    def terminate(self, context: MeasureContext) -> None:
        """Delete the running Job of `context.previous`, if any and if this run owns it.

        A Job without an ownerReference to the run (`uid` match) is left alone and the
        refusal logged. Raises `KubeError` when the API server refused or could not be
        reached (the caller retries); a Job that is already gone is not an error.
        """
        name = _job_name_of(context.previous)
        if name is None:
            return
        try:
            job = self.client.get(JOB, context.namespace, name)
        except NotFound:
            return
        if not _owned_by(job, context.run_uid):
            log.warning("not deleting Job %s/%s: it is not owned by AnalysisRun %s (uid %s)",
                        context.namespace, name, context.run_name, context.run_uid)
            return
        uid = str((job.get("metadata") or {}).get("uid") or "") or None
        try:  # the uid precondition: never a namesake created since we looked
            self.client.delete(JOB, context.namespace, name, propagation="Background", uid=uid)
        except Conflict:
            log.warning("not deleting Job %s/%s: it was replaced since it was checked",
                        context.namespace, name)

    def _start(self, context: MeasureContext) -> Outcome:
        number = context.measurement_number or _next_number(context.previous)
        name = job_name(context.run_name, context.run_uid, context.metric_name, number)
        try:
            manifest = job_manifest(context, name)
        except ValueError as exc:
            return Outcome(error=str(exc))
        try:
            self.client.create(JOB, context.namespace, manifest)
        except AlreadyExists:
            adopted = self._adopt(context, name)
            if adopted is not None:
                return adopted
        except KubeError as exc:
            return Outcome(error=scrub(f"cannot create Job {name}: {exc}", ()))
        return Outcome(pending=True, resume_at=context.now + poll_delay(None, context.now),
                       metadata={JOB_NAME_KEY: name})

    def _adopt(self, context: MeasureContext, name: str) -> Outcome | None:
        """None when the existing Job is ours (created before a crash); else an error."""
        try:
            existing = self.client.get(JOB, context.namespace, name)
        except KubeError as exc:
            return Outcome(error=scrub(f"Job {name} exists but cannot be read: {exc}", ()))
        if _owned_by(existing, context.run_uid, controller=True):
            return None
        return Outcome(error=f"a Job named {name} already exists and does not belong to "
                             f"AnalysisRun {context.run_name}; delete it or rename the metric")

    def _check(self, context: MeasureContext, name: str) -> Outcome:
        metadata = {JOB_NAME_KEY: name}
        started = _started_at(context.previous)
        try:
            job = self.client.get(JOB, context.namespace, name)
        except NotFound:
            return Outcome(error=f"Job {name} no longer exists (deleted before it finished)",
                           metadata=metadata)
        except KubeError as exc:
            if exc.temporary:  # the API server is away: the Job is not; look again later
                return Outcome(pending=True, metadata=metadata,
                               resume_at=context.now + poll_delay(started, context.now))
            return Outcome(error=scrub(f"cannot read Job {name}: {exc}", ()), metadata=metadata)
        succeeded, reason = job_result(job)
        if succeeded is None:
            return Outcome(pending=True, metadata=metadata,
                           resume_at=context.now + poll_delay(started, context.now))
        if not succeeded:
            metadata["job-failure"] = scrub(reason, (), 200)
        return Outcome(value=succeeded, metadata=metadata)


def _owned_by(job: dict[str, Any], run_uid: str, *, controller: bool = False) -> bool:
    """Whether `job` has an ownerReference to the AnalysisRun with uid `run_uid`."""
    if not run_uid:
        return False
    for owner in (job.get("metadata") or {}).get("ownerReferences") or []:
        if (isinstance(owner, dict) and owner.get("uid") == run_uid
                and owner.get("kind") == "AnalysisRun"
                and (owner.get("controller") or not controller)):
            return True
    return False


def _job_name_of(measurement: dict[str, Any] | None) -> str | None:
    metadata = (measurement or {}).get("metadata") or {}
    name = metadata.get(JOB_NAME_KEY) if isinstance(metadata, dict) else None
    return str(name) if name else None


def _running_job(previous: dict[str, Any] | None) -> str | None:
    """The Job of `previous` when that measurement is still running."""
    if previous is None or previous.get("finishedAt"):
        return None
    if previous.get("phase") in _COMPLETED_PHASES:
        return None
    return _job_name_of(previous)


def _next_number(previous: dict[str, Any] | None) -> int:
    """One more than the number in the previous measurement's Job name (else 1)."""
    match = _NUMBER_SUFFIX.search(_job_name_of(previous) or "")
    return int(match.group(1)) + 1 if match else 1


def _started_at(previous: dict[str, Any] | None) -> datetime | None:
    raw = (previous or {}).get("startedAt")
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None
