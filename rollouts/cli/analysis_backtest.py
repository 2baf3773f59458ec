"""`rollouts analysis backtest`: how a template (or a Rollout's analyses) would have decided
over past Prometheus data.

    rollouts analysis backtest -f TEMPLATE.yaml [--arg k=v] --from -24h [--to now]
        [--every 1m] [-o json] [--chart FILE.svg] [--verbose]
    rollouts analysis backtest --rollout NAME [-f FILE...] --from ... (its analyses)

Each prometheus metric's own query is sent as an instant query at each past instant
(`PrometheusRequest.at`: Prometheus' `time=`; the same transport bounds, egress policy
and redaction as live measurements), and the answers go through the same state machine
as live runs (`analysis.backtest`, which documents how `--every` starts runs). A judge
metric (ours) is measured by the judge provider with its window ending at each past
instant (its range queries are answered from history like any other). Web, job and any
other provider's metrics have no history to query: they are listed as not backtestable.
Before the first measurement each Prometheus address is asked `vector(1)` at `--from`,
so an unreachable or wrong address is one line (exit 2), not a day of Error
measurements.

Documents: the -f files are loaded and picked with `analysis_cmds` (`load_documents`,
`pick_document`, `trial_run`, `resolve_run_args`); a Rollout among them (or `--rollout
NAME`, read from the cluster when no -f file has it) is played through its analysis
steps, background analysis and blue-green pre/post-promotion analyses
(`analysis_backtest_rollout`), with its args.

Exit status: 0 every analysis would have succeeded; 1 one would have failed, errored or
been inconclusive (a rollout would have aborted or paused); 2 unusable input (a bad
time, a window too large, no template, an argument without a value, Prometheus
unreachable), one line each.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import click

from analysis.args import ArgsError, ResolvedArgs, substitute
from analysis.backtest import BadWindow, TooMuchWork, Window, backtest, window
from analysis.decide import Outcome
from analysis.decide_rules import InvalidRun, read_rules
from analysis.providers import JudgeProvider, MeasureContext, PrometheusProvider, provider_for
from analysis.providers.prometheus import PrometheusRequest, query
from rollouts.api import AnalysisPhase
from rollouts.cli.analysis_backtest_rollout import (
    MissingArgs,
    NoAnalysis,
    Subject,
    rollout_subjects,
)
from rollouts.cli.analysis_backtest_view import Played, chart, render_json, render_text, verdict
from rollouts.cli.analysis_cmds import (
    ANALYSIS_KINDS,
    analysis_group,
    load_documents,
    parse_arg_assignments,
    pick_document,
    resolve_run_args,
    trial_run,
)
from rollouts.cli.analysis_view import args_text
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, kube_options
from rollouts.kube import ANALYSIS_TEMPLATE, CLUSTER_ANALYSIS_TEMPLATE, ROLLOUT, NotFound

__all__ = ["analysis_backtest", "register"]

UNUSABLE = 2
PROBE_QUERY = "vector(1)"
NOT_BACKTESTABLE = ("only prometheus and judge metrics have history to query at past "
                    "instants; this one is measured live only")
BACKTESTABLE = ("prometheus", "judge")


def _unusable(message: str) -> UsageProblem:
    return UsageProblem(message, exit_code=UNUSABLE)


def _arg_callback(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...],
                  ) -> dict[str, str]:
    return parse_arg_assignments(values)


@click.command("backtest")
@click.option("-f", "--filename", "paths", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, allow_dash=True),
              help="YAML with an AnalysisTemplate (or ClusterAnalysisTemplate, AnalysisRun), "
                   "or a Rollout and its templates; repeatable.")
@click.option("--rollout", "rollout_name", default=None, metavar="NAME",
              help="Backtest this Rollout's analyses (from the -f files, else the cluster).")
@click.option("--template", "template_name", default=None, metavar="NAME",
              help="Which template of the -f files (default: the first).")
@click.option("--arg", "assignments", multiple=True, metavar="NAME=VALUE",
              callback=_arg_callback, help="An argument's value (overrides the default).")
@click.option("--from", "start", required=True, metavar="TIME",
              help="Start: RFC 3339 (2026-12-03T00:00:00Z), now, or -24h / now-6h / -2d.")
@click.option("--to", "end", default="now", show_default=True, metavar="TIME",
              help="End, written as --from.")
@click.option("--every", default="1m", show_default=True, metavar="DURATION",
              help="How often a run starts (analyses that end by themselves); the step a "
                   "background analysis restarts on after a failure.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--chart", "chart_path", default=None, metavar="FILE.svg",
              type=click.Path(dir_okay=False),
              help="Write an SVG of the measured values against the thresholds.")
@click.option("-v", "--verbose", is_flag=True,
              help="One line per measurement (default: runs of equal verdicts folded).")
@kube_options
def analysis_backtest(paths: tuple[str, ...], rollout_name: str | None,
                      template_name: str | None, assignments: dict[str, str], start: str,
                      end: str, every: str, output: str, chart_path: str | None,
                      verbose: bool, kube: KubeOptions) -> None:
    """Replay an analysis over past Prometheus data: what each measurement and each run
    would have decided, where it would first have failed, and a summary.

    \b
    Runs that end by themselves (every metric has a count, or no interval) start every
    --every from --from, as if a release had begun then; a run that never ends (a metric
    with an interval and no count: background analysis) starts at --from, is terminated
    at --to, and after a failure the next starts at the next --every step. The same
    state machine as live runs decides.

    \b
    Exit status: 0 would have succeeded; 1 would have failed, errored or been
    inconclusive; 2 unusable input.
    """
    began = time.monotonic()
    try:
        span = window(start, end, every, datetime.now(UTC))
    except BadWindow as bad:
        raise _unusable(str(bad)) from None
    if not paths and rollout_name is None:
        raise _unusable("give -f TEMPLATE.yaml (or a Rollout's file), or --rollout NAME")
    subjects = _subjects(paths, rollout_name, template_name, assignments, kube)
    provider = PrometheusProvider()
    probed: dict[str, None] = {}
    played: list[Played] = []
    queries = 0
    for label, run in subjects:
        args = resolve_run_args(run, kube)
        metrics, skipped = _backtestable(run, args)
        if not metrics:
            played.append(Played(label, [], None, skipped, _shown_args(run, args)))
            continue
        trial = _trial(run, metrics)
        try:
            read_rules(trial)
        except InvalidRun as invalid:
            raise _unusable(f"{label} cannot run: {args.redact(str(invalid))}; fix it") from None
        judge_queries = [0]  # beyond one a measurement: a judge sends two per compared metric
        # The probe is made on a metric's first measurement, so the work bound that
        # `backtest` checks first refuses a too large window before any query is sent.
        measure = _measurer(provider, args, judge_queries, span, probed)
        try:
            result = backtest(trial, span, measure, redact=args.redact)
        except TooMuchWork as too_much:
            raise _unusable(f"{label}: {too_much}") from None
        queries += result.queries + judge_queries[0]
        played.append(Played(label, metrics, result, skipped, _shown_args(run, args)))
    if all(item.result is None for item in played):
        raise _unusable("nothing to backtest: " + "; ".join(
            f"{name} ({why})" for item in played for name, why in item.skipped.items()))
    if chart_path:
        _write_chart(chart_path, played, span)
    seconds = time.monotonic() - began
    total = queries + len(probed)
    if output == "json":
        click.echo(json.dumps(render_json(played, span, queries=total, probes=len(probed),
                                          seconds=seconds), indent=2))
    else:
        click.echo(render_text(played, span, queries=total, probes=len(probed),
                               seconds=seconds, verbose=verbose))
    sys.exit(0 if verdict(played) is AnalysisPhase.SUCCESSFUL else 1)


# --- what to play ---------------------------------------------------------------------

def _subjects(paths: tuple[str, ...], rollout_name: str | None, template_name: str | None,
              overrides: dict[str, str], kube: KubeOptions) -> list[tuple[str, dict[str, Any]]]:
    """(label, run) for each analysis to play."""
    docs = [(path, doc) for path in paths for doc in load_documents(path)]
    rollouts = [doc for _, doc in docs if isinstance(doc, dict) and doc.get("kind") == "Rollout"
                and (rollout_name is None
                     or (doc.get("metadata") or {}).get("name") == rollout_name)]
    source = ", ".join(paths)
    if template_name is None and (rollouts or rollout_name is not None):
        if rollouts:
            return _rollout_runs(rollouts[0], [d for _, d in docs], overrides, kube, live=False,
                                 source=source)
        if paths and rollout_name is not None and any(
                isinstance(d, dict) and d.get("kind") == "Rollout" for _, d in docs):
            raise _unusable(f"{source} has no Rollout named '{rollout_name}'; fix --rollout")
        return _live_rollout(str(rollout_name), [d for _, d in docs], overrides, kube)
    doc = pick_document([d for _, d in docs], source, template_name)
    namespace = kube.namespace or str((doc.get("metadata") or {}).get("namespace") or "") \
        or kube.resolved_namespace()
    run = trial_run(doc, overrides, namespace)
    name = (doc.get("metadata") or {}).get("name") or "?"
    return [(f"{doc.get('kind')} {name} ({source})", run)]


def _rollout_runs(rollout: dict[str, Any], docs: list[Any], overrides: dict[str, str],
                  kube: KubeOptions, *, live: bool, source: str,
                  ) -> list[tuple[str, dict[str, Any]]]:
    templates: dict[str, dict[str, Any]] = {}
    cluster_templates: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") in ANALYSIS_KINDS[:2]:
            into = templates if doc["kind"] == "AnalysisTemplate" else cluster_templates
            into.setdefault(str((doc.get("metadata") or {}).get("name")), doc)
    if live:
        _fetch_templates(rollout, templates, cluster_templates, kube)
    namespace = str((rollout.get("metadata") or {}).get("namespace") or "") or \
        kube.resolved_namespace()
    rollout = {**rollout, "metadata": {**(rollout.get("metadata") or {}),
                                       "namespace": namespace}}
    try:
        subjects: list[Subject] = rollout_subjects(rollout, templates, cluster_templates,
                                                   overrides, live=live)
    except (MissingArgs, NoAnalysis) as problem:
        raise _unusable(str(problem)) from None
    name = (rollout.get("metadata") or {}).get("name")
    declared = {str(arg["name"]) for s in subjects for arg in s.run["spec"].get("args") or []}
    for extra in overrides:
        if extra not in declared:
            raise _unusable(f"--arg {extra}: no analysis of Rollout '{name}' takes an "
                            f"argument '{extra}' (they take: {', '.join(sorted(declared))})")
    return [(f"Rollout {name} {subject.label} ({source})", subject.run) for subject in subjects]


def _live_rollout(name: str, docs: list[Any], overrides: dict[str, str], kube: KubeOptions,
                  ) -> list[tuple[str, dict[str, Any]]]:
    session = kube.session()
    with session.calling("get", "rollout", name):
        rollout = session.client.get(ROLLOUT, session.namespace, name)
    return _rollout_runs(rollout, docs, overrides, kube, live=True,
                         source=f"the cluster, namespace {session.namespace}")


def _fetch_templates(rollout: dict[str, Any], templates: dict[str, dict[str, Any]],
                     cluster_templates: dict[str, dict[str, Any]], kube: KubeOptions) -> None:
    """Read the templates the Rollout refers to that the -f files do not hold."""
    session = kube.session()
    for ref in _template_refs(rollout.get("spec") or {}):
        name, cluster = str(ref.get("templateName") or ""), bool(ref.get("clusterScope"))
        into = cluster_templates if cluster else templates
        if not name or name in into:
            continue
        kind = CLUSTER_ANALYSIS_TEMPLATE if cluster else ANALYSIS_TEMPLATE
        try:
            with session.calling("get", "cluster analysis template" if cluster
                                 else "analysis template", name, None if cluster else ""):
                into[name] = session.client.get(kind, None if cluster else session.namespace,
                                                name)
        except UsageProblem as problem:
            if isinstance(problem.__cause__, NotFound):
                continue  # reported as missing by the subjects, naming the step
            raise


def _template_refs(value: object) -> list[dict[str, Any]]:
    """Every `templates[]` entry anywhere under the Rollout's spec."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "templates" and isinstance(item, list):
                found.extend(ref for ref in item if isinstance(ref, dict) and "templateName" in ref)
            else:
                found.extend(_template_refs(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_template_refs(item))
    return found


# --- playing ----------------------------------------------------------------------------

def _backtestable(run: dict[str, Any], args: ResolvedArgs,
                  ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The prometheus metrics (arguments substituted), and the others with why not."""
    metrics: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for metric in run["spec"]["metrics"]:
        if not isinstance(metric, dict):
            continue
        name = str(metric.get("name"))
        provider = metric.get("provider")
        kinds = sorted(provider) if isinstance(provider, dict) else []
        kind = provider_for(metric)
        if kind not in BACKTESTABLE or kinds != [kind]:
            skipped[name] = f"{', '.join(kinds) or 'no provider'}: {NOT_BACKTESTABLE}"
            continue
        try:
            metrics.append(substitute(metric, args))
        except ArgsError as problem:
            raise _unusable(args.redact(str(problem))) from None
    return metrics, skipped


def _trial(run: dict[str, Any], metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with only `metrics`; dryRun/measurementRetention rules that now match no
    metric are dropped (a run treats such a rule as an error)."""
    names = [str(m.get("name")) for m in metrics]

    def matches(rule: object) -> bool:
        pattern = str(rule.get("metricName") if isinstance(rule, dict) else "")
        try:
            return any(re.search(pattern, name) for name in names)
        except re.error:
            return True  # left for read_rules to report
    spec = {key: value for key, value in run["spec"].items() if key != "args"}
    spec["metrics"] = metrics
    for key in ("dryRun", "measurementRetention"):
        if key in spec:
            spec[key] = [rule for rule in spec[key] or [] if matches(rule)]
            if not spec[key]:
                del spec[key]
    return {**run, "spec": spec}


def _request(provider: PrometheusProvider, metric: Mapping[str, Any]) -> PrometheusRequest:
    if provider_for(dict(metric)) == "judge":  # its connection settings; queries are its own
        spec = (metric.get("provider") or {}).get("judge") or {}
        return PrometheusRequest.from_spec({**spec, "query": PROBE_QUERY},
                                           provider.default_address, prefix="provider.judge")
    spec = (metric.get("provider") or {}).get("prometheus") or {}
    return PrometheusRequest.from_spec(dict(spec), provider.default_address)


def _probe(provider: PrometheusProvider, metric: Mapping[str, Any], span: Window,
           args: ResolvedArgs, probed: dict[str, None]) -> None:
    """Ask each Prometheus once for `vector(1)` at --from; exit 2 if it cannot answer."""
    try:
        request = _request(provider, metric)
    except ValueError as problem:
        raise _unusable(f"metric {metric.get('name')}: {args.redact(str(problem))}") from None
    if request.address in probed:
        return
    probed[request.address] = None
    outcome = query(replace(request, query=PROBE_QUERY, at=span.start), provider.egress)
    if outcome.error is not None:
        raise _unusable(f"cannot backtest metric {metric.get('name')}: "
                        f"{args.redact(outcome.error)}; check the address and that it is up")


def _measurer(provider: PrometheusProvider, args: ResolvedArgs, judge_queries: list[int],
              span: Window, probed: dict[str, None],
              ) -> Callable[[Mapping[str, Any], datetime], Outcome]:
    judge = JudgeProvider(default_address=provider.default_address, egress=provider.egress)

    def measure(metric: Mapping[str, Any], at: datetime) -> Outcome:
        _probe(provider, metric, span, args, probed)
        if provider_for(dict(metric)) == "judge":
            judged = judge.measure(MeasureContext(namespace="", run_name="backtest", run_uid="",
                                                  metric=dict(metric), previous=None, now=at))
            compared = ((metric.get("provider") or {}).get("judge") or {}).get("metrics")
            judge_queries[0] += 2 * len(compared if isinstance(compared, list) else []) - 1
            if judged.error is not None:
                return Outcome.failed(args.redact(judged.error))
            return Outcome.measured(judged.value,
                                    metadata=args.redact_all(dict(judged.metadata)))
        try:
            request = _request(provider, metric)
        except ValueError as problem:
            return Outcome.failed(args.redact(str(problem)))
        outcome = query(replace(request, at=at), provider.egress)
        if outcome.error is not None:
            return Outcome.failed(args.redact(outcome.error))
        return Outcome.measured(outcome.value, metadata=args.redact_all(dict(outcome.metadata)))
    return measure


def _shown_args(run: dict[str, Any], args: ResolvedArgs) -> str:
    declared = run["spec"].get("args")
    return args.redact(args_text(declared)) if declared else ""


def _write_chart(path: str, played: list[Played], span: Window) -> None:
    names = sorted({item.label.split(" (")[0] for item in played})
    shown = names[0] if len(names) == 1 else f"{len(names)} analyses"
    title = (f"{shown}: {span.start:%Y-%m-%d %H:%M} .. {span.end:%Y-%m-%d %H:%M} UTC, "
             f"would have {_outcome(verdict(played))}")
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(chart(played, span, title))
    except OSError as problem:
        raise _unusable(f"cannot write the chart to {path}: {problem.strerror or problem}"
                        ) from None


def _outcome(phase: AnalysisPhase) -> str:
    return {AnalysisPhase.SUCCESSFUL: "passed", AnalysisPhase.FAILED: "failed",
            AnalysisPhase.ERROR: "errored"}.get(phase, "been inconclusive")


# --- registration ----------------------------------------------------------------------

def register(cli: click.Group) -> None:
    """Add `analysis backtest` to the `analysis` group already registered, else to
    `analysis_cmds`' group (which its own `register` then finds in place)."""
    existing = cli.commands.get("analysis")
    group = existing if isinstance(existing, click.Group) else analysis_group
    group.add_command(analysis_backtest)
    if existing is None:
        cli.add_command(group)
