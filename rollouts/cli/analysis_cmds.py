"""The analysis commands: `get analysisrun` (alias `ar`) and `analysis run`.

`get analysisrun NAME` shows one run (rendered by the pure `analysis_view`), `--watch`
re-renders every 2 s until it completes. `analysis run -f TEMPLATE.yaml` is for people
writing templates: it resolves the arguments (`--arg` overrides defaults; Secret-backed
ones are read from the cluster), substitutes them, measures each prometheus/web/judge
metric once against the live endpoints and judges the value with `analysis.decide.record`
on a synthetic run, exactly as the controller would. It creates nothing in the cluster: `job`
metrics are skipped. `--full` instead plays the whole schedule (initialDelay, interval,
count, limits) with `analysis.decide.plan_run`, still locally.

Exit status of `analysis run`: 0 when every measured metric that decides is Successful
(dry-run metrics never decide, as in the controller), 1 otherwise, 2 for unusable input.
Neighbours: `rollout_cmds` (the `get` group this joins), `kubeopts` (cluster options and
error mapping), `analysis.args` / `analysis.providers` / `analysis.decide` (the work).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from analysis.args import ArgsError, ResolvedArgs, kube_secret_reader, resolve_args, substitute
from analysis.decide import plan_run, record
from analysis.decide_rules import InvalidRun, read_rules
from analysis.providers import (
    JudgeProvider,
    MeasureContext,
    MetricProvider,
    Outcome,
    PrometheusProvider,
    WebProvider,
    provider_for,
)
from rollouts.api import API_VERSION, AnalysisPhase
from rollouts.cli import analysis_view as view
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options
from rollouts.cli.manifest_files import read_documents
from rollouts.cli.output import dump_object
from rollouts.kube import ANALYSIS_RUN, KubeError

__all__ = ["ANALYSIS_KINDS", "JOB_SKIPPED", "load_documents", "parse_arg_assignments",
           "pick_document", "register", "resolve_run_args", "trial_run"]

ANALYSIS_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun")
JOB_SKIPPED = "job metrics create Jobs; not run by `analysis run`"
MEASURED_KINDS = ("prometheus", "web", "judge")
GET_WATCH_SECONDS = 2.0
UNUSABLE = 2  # exit status for input `analysis run` cannot work with
_CLEAR = "\x1b[H\x1b[2J"


def _unusable(message: str) -> UsageProblem:
    return UsageProblem(message, exit_code=UNUSABLE)



# --- get analysisrun -------------------------------------------------------------------

def _fetch_run(session: Session, name: str) -> dict[str, Any]:
    with session.calling("get", "analysis run", name):
        return session.client.get(ANALYSIS_RUN, session.namespace, name)


def _completed(run: dict[str, Any]) -> bool:
    try:
        return AnalysisPhase(str((run.get("status") or {}).get("phase"))).completed
    except ValueError:
        return False


def _temporary(problem: UsageProblem) -> bool:
    return isinstance(problem.__cause__, KubeError) and problem.__cause__.temporary


@click.command("analysisrun")
@click.argument("name")
@click.option("-w", "--watch", is_flag=True, help="Re-render every 2s until the run completes.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print the AnalysisRun object instead of the view.")
@kube_options
def get_analysisrun(name: str, watch: bool, output: str | None, kube: KubeOptions) -> None:
    """Show an AnalysisRun: phase, arguments, and per metric its counters, conditions and
    last measurements (alias: ar)."""
    session = kube.session()
    run = _fetch_run(session, name)
    if output:
        dump_object(run, output)
        return
    click.echo(view.render_run(run, datetime.now(UTC)))
    clear = sys.stdout.isatty()
    try:
        while watch and not _completed(run):
            time.sleep(GET_WATCH_SECONDS)
            try:
                run = _fetch_run(session, name)
            except UsageProblem as problem:
                if not _temporary(problem):
                    raise
                click.echo(f"({problem}; retrying)", err=True)
                continue
            click.echo((_CLEAR if clear else "\n") + view.render_run(run, datetime.now(UTC)))
    except KeyboardInterrupt:
        return


# --- analysis run: reading the file and the arguments ----------------------------------

def parse_arg_assignments(values: Sequence[str]) -> dict[str, str]:
    """`("service=checkout", "q=a=b")` -> `{"service": "checkout", "q": "a=b"}`.

    Raises `click.BadParameter` naming the bad value: no `=`, an empty or spaced name,
    or the same name twice.
    """
    found: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name or any(c.isspace() or c in "{}" for c in name):
            raise click.BadParameter(
                f"'{text}' is not NAME=VALUE (e.g. --arg service=checkout)", param_hint="--arg")
        if name in found:
            raise click.BadParameter(f"'{name}' is given twice ('{name}={found[name]}' and "
                                     f"'{text}'); pass it once", param_hint="--arg")
        found[name] = value
    return found


def _arg_callback(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...],
                  ) -> dict[str, str]:
    return parse_arg_assignments(values)


def load_documents(path: str) -> list[Any]:
    """The YAML documents of a file (`-` is stdin), read within bounds; exit 2 if unusable."""
    return [doc for _, doc in read_documents(path)]


def pick_document(docs: Sequence[Any], source: str, name: str | None = None) -> dict[str, Any]:
    """The first AnalysisTemplate, ClusterAnalysisTemplate or AnalysisRun (named `name`
    if given) among `docs`; a `UsageProblem` (exit 2) saying what the file holds instead."""
    found = [d for d in docs if isinstance(d, dict) and d.get("kind") in ANALYSIS_KINDS]
    names = [str((d.get("metadata") or {}).get("name") or "") for d in found]
    if name is not None:
        found = [d for d, n in zip(found, names, strict=True) if n == name]
    if found:
        return dict(found[0])
    if name is not None and names:
        raise _unusable(f"{source} has no template named '{name}' (it has: "
                        f"{', '.join(names)}); fix --template")
    kinds = sorted({str(d.get("kind")) for d in docs if isinstance(d, dict) and d.get("kind")})
    held = f" (it holds: {', '.join(kinds)})" if kinds else ""
    raise _unusable(f"{source} holds no AnalysisTemplate, ClusterAnalysisTemplate or "
                    f"AnalysisRun{held}; pass a file with one")


def trial_run(doc: dict[str, Any], overrides: dict[str, str], namespace: str) -> dict[str, Any]:
    """The synthetic AnalysisRun `analysis run` measures: the document's metrics and its
    arguments, `overrides` (from `--arg`) replacing their values.

    Raises a `UsageProblem` (exit 2) for an `--arg` the document does not declare and for
    an argument left without a value (Secret-backed ones keep their `valueFrom`).
    """
    spec = doc.get("spec")
    title = f"{doc.get('kind')} '{(doc.get('metadata') or {}).get('name') or '?'}'"
    if not isinstance(spec, dict) or not isinstance(spec.get("metrics"), list) \
            or not spec["metrics"]:
        raise _unusable(f"{title} has no spec.metrics; give it at least one metric")
    declared = [a for a in spec.get("args") or [] if isinstance(a, dict) and a.get("name")]
    names = [str(a["name"]) for a in declared]
    for extra in overrides:
        if extra not in names:
            raise _unusable(f"--arg {extra}: {title} declares no argument '{extra}' "
                            f"(it declares: {', '.join(names) or 'none'})")
    args: list[dict[str, Any]] = []
    for arg, name in zip(declared, names, strict=True):
        source: dict[str, Any] = arg["valueFrom"] if isinstance(arg.get("valueFrom"), dict) \
            else {}
        if name in overrides:
            args.append({"name": name, "value": overrides[name]})
        elif arg.get("value") is not None or source.get("secretKeyRef") is not None:
            args.append(copy.deepcopy(arg))
        else:
            given_by = next((f" (the Rollout fills in valueFrom.{key})" for key in source), "")
            raise _unusable(f"argument '{name}' has no value{given_by}: pass --arg {name}=VALUE")
    run_spec = {key: copy.deepcopy(spec[key]) for key in ("metrics", "dryRun",
                                                          "measurementRetention") if key in spec}
    name = str((doc.get("metadata") or {}).get("name") or "template")
    return {"apiVersion": API_VERSION, "kind": "AnalysisRun",
            "metadata": {"name": f"{name}-trial", "namespace": namespace, "uid": ""},
            "spec": {**run_spec, "args": args}}


def resolve_run_args(run: dict[str, Any], kube: KubeOptions) -> ResolvedArgs:
    """The argument values; Secrets are read with the kubeconfig only when one is needed."""
    needing = [str(a["name"]) for a in run["spec"]["args"] if a.get("value") is None]
    hint = " or ".join(f"--arg {name}=VALUE" for name in needing)
    reader: Callable[[str, str, str], str] = _no_secrets
    if needing:
        try:
            session = kube.session()
        except UsageProblem as problem:
            which = ("argument " if len(needing) == 1 else "arguments ") + ", ".join(
                f"'{name}'" for name in needing)
            raise _unusable(f"{which} {'comes' if len(needing) == 1 else 'come'} from a Secret "
                            f"(valueFrom.secretKeyRef), which needs a cluster: {problem}; "
                            f"or pass {hint}") from None
        read = kube_secret_reader(session.client)

        def reader(namespace: str, name: str, key: str) -> str:
            try:
                with session.calling("get", "secret", name, namespace):
                    return read(namespace, name, key)
            except UsageProblem as problem:
                raise _unusable(f"{problem} (or pass {hint})") from None
    try:
        return resolve_args(run, reader)
    except ArgsError as problem:
        raise _unusable(f"{problem}" + (f" (or pass {hint})" if needing else "")) from None


def _no_secrets(namespace: str, name: str, key: str) -> str:
    raise LookupError(f"Secret '{name}' cannot be read here")  # unused: no secretKeyRef left


# --- analysis run: measuring -----------------------------------------------------------

def _skip_reason(metric: dict[str, Any]) -> str | None:
    kind = provider_for(metric)
    if kind in MEASURED_KINDS:
        return None
    if kind == "job":
        return JOB_SKIPPED
    return (f"provider {kind or '(none or several)'} is not implemented; "
            "use prometheus, web or judge")


def _take(provider: MetricProvider, run: dict[str, Any], metric: dict[str, Any],
          args: ResolvedArgs, number: int) -> Outcome:
    context = MeasureContext(namespace=run["metadata"]["namespace"],
                             run_name=run["metadata"]["name"], run_uid="", metric=metric,
                             previous=None, now=datetime.now(UTC), measurement_number=number)
    try:
        outcome = provider.measure(context)
    except Exception as unexpected:  # a provider bug is an Error measurement, not a crash
        outcome = Outcome(error=f"{provider.kind} provider failed: {type(unexpected).__name__}")
    return Outcome(value=outcome.value, error=args.redact(outcome.error) if outcome.error
                   else None, metadata=args.redact_all(dict(outcome.metadata)))


def _last(status: dict[str, Any], name: str) -> dict[str, Any]:
    for result in status.get("metricResults") or []:
        if result.get("name") == name and result.get("measurements"):
            return dict(result["measurements"][-1])
    return {}


def _measure(trial: dict[str, Any], args: ResolvedArgs, *, once: bool) -> dict[str, Any]:
    """Measure every metric of `trial` once now; or (`once=False`) play the run's schedule
    (initialDelay, interval, count, limits) with `plan_run` until it completes, printing
    each measurement. Returns the run's status as the controller would have written it."""
    providers: dict[str, MetricProvider] = {"prometheus": PrometheusProvider(),
                                            "web": WebProvider(), "judge": JudgeProvider()}
    by_name = {str(m["name"]): m for m in trial["spec"]["metrics"]}
    taken = dict.fromkeys(by_name, 0)
    started = time.monotonic()
    status: dict[str, Any] = {}
    while True:
        plan = plan_run({**trial, "status": status}, datetime.now(UTC))
        status = plan.status
        for name in list(by_name) if once else plan.due:
            taken[name] += 1
            metric = by_name[name]
            outcome = _take(providers[str(provider_for(metric))], trial, metric, args, taken[name])
            status = record(trial, status, name, outcome, datetime.now(UTC))
            if not once:
                last = args.redact_all(_last(status, name))
                click.echo(view.measurement_line(name, taken[name], last,
                                                 time.monotonic() - started))
        if once:
            return status
        settled = plan_run({**trial, "status": status}, datetime.now(UTC))
        status = settled.status
        if settled.done:
            return status
        wake = settled.next_wake
        pause = (wake - datetime.now(UTC)).total_seconds() if wake is not None else 1.0
        time.sleep(min(max(pause, 0.0), 60.0))


@click.group("analysis")
def analysis_group() -> None:
    """Try analysis templates against live metrics, or past ones (backtest)."""


@analysis_group.command("run")
@click.option("-f", "--filename", "path", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, allow_dash=True),
              help="YAML with an AnalysisTemplate, ClusterAnalysisTemplate or AnalysisRun.")
@click.option("--arg", "assignments", multiple=True, metavar="NAME=VALUE",
              callback=_arg_callback, help="An argument's value (overrides the default).")
@click.option("--template", "template_name", default=None, metavar="NAME",
              help="Which template of a multi-document file (default: the first).")
@click.option("--count-once/--full", "once", default=True, show_default=True,
              help="One measurement per metric now (default), or the whole schedule: "
                   "initialDelay, interval, count and limits.")
@kube_options
def analysis_run(path: str, assignments: dict[str, str], template_name: str | None, once: bool,
                 kube: KubeOptions) -> None:
    """Measure a template's prometheus, web and judge metrics now and judge them as the
    controller would; creates nothing in the cluster (job metrics are skipped).

    \b
    Exit status: 0 every measured metric that decides is Successful (dry-run ones never
    decide); 1 otherwise; 2 unusable input (bad YAML, no template, an argument without a
    value, a Secret that cannot be read).
    """
    doc = pick_document(load_documents(path), path, template_name)
    kind = str(doc.get("kind"))
    own_namespace = (doc.get("metadata") or {}).get("namespace")  # a cluster template has none
    namespace = kube.namespace or str(own_namespace or "") or kube.resolved_namespace()
    run = trial_run(doc, assignments, namespace)
    args = resolve_run_args(run, kube)
    metrics = [m for m in run["spec"]["metrics"] if isinstance(m, dict)]
    skipped = {str(m.get("name")): reason for m in metrics if (reason := _skip_reason(m))}
    try:
        substituted = {str(m.get("name")): substitute(m, args) for m in metrics
                       if str(m.get("name")) not in skipped}
    except ArgsError as problem:
        raise _unusable(args.redact(str(problem))) from None
    trial = {**run, "spec": {**run["spec"], "metrics": list(substituted.values())}}
    if substituted:
        try:
            read_rules(trial)
        except InvalidRun as invalid:
            raise _unusable(f"{kind} '{(doc.get('metadata') or {}).get('name')}' cannot run: "
                            f"{args.redact(str(invalid))}; fix the template") from None
    if not once:
        for metric in substituted.values():
            if metric.get("interval") and metric.get("count") in (None, 0):
                click.echo(f"note: metric {metric['name']} has an interval and no count: it "
                           "measures until stopped (Ctrl-C)", err=True)
        final = _measure(trial, args, once=False) if substituted else {"phase": "Successful"}
        click.echo("\n" + view.render_run(args.redact_all({**trial, "status": final}),
                                          datetime.now(UTC)))
        for name, reason in skipped.items():
            click.echo(f"\n{name}: skipped: {reason}")
        sys.exit(0 if final.get("phase") == AnalysisPhase.SUCCESSFUL else 1)
    status = _measure(trial, args, once=True) if substituted else {}
    trials = view.trial_metrics([substituted.get(str(m.get("name")), m) for m in metrics],
                                status, skipped, args.redact)
    source = f"{kind} {(doc.get('metadata') or {}).get('name') or '?'} (from {path})"
    shown_args = view.args_text(run["spec"]["args"], frozenset(assignments))
    click.echo(view.render_trial(source, namespace, shown_args, trials))
    sys.exit(0 if view.trial_verdict(trials) is AnalysisPhase.SUCCESSFUL else 1)


# --- registration ----------------------------------------------------------------------

def _alias(command: click.Command, name: str) -> click.Command:
    alias = copy.copy(command)
    alias.name = name
    alias.hidden = True
    return alias


@click.group("get")
def get_group() -> None:
    """Show one object in detail."""


get_group.add_command(get_analysisrun)
get_group.add_command(_alias(get_analysisrun, "ar"))


def register(cli: click.Group) -> None:
    """Add `get analysisrun` and `analysis run` to `cli`, merging into `get` / `analysis`
    groups another module may have registered first."""
    for group in (get_group, analysis_group):
        existing = cli.commands.get(str(group.name))
        if isinstance(existing, click.Group) and existing is not group:
            for sub_name, sub in group.commands.items():
                existing.add_command(sub, sub_name)
        else:
            cli.add_command(group)
