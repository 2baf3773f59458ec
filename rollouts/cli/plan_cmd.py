"""`rollouts plan -f FILE [NAME]` / `rollouts plan NAME`: the timeline a Rollout follows.

Offline (`-f`, repeatable, `-` for stdin): the Rollout in the files (the one named
NAME when there are several) with the AnalysisTemplates and ClusterAnalysisTemplates
in the same files; a template that is not given is named in the plan, not an error.
Live (NAME without a Rollout in the files): the Rollout is read from the cluster with
the namespace's AnalysisTemplates and the ClusterAnalysisTemplates (templates in `-f`
files are added), and the plan is shown from its current step on.

The plan itself is `rollouts.timeline`: the controller's own planner run in a
simulated world. Output: a table (default) or the documented JSON of
`rollouts.timeline.model` (`-o json`). Exit status: 0 planned; 2 the input cannot be
planned (unreadable or not YAML, no Rollout, an invalid spec), one line on stderr.
Neighbours: `lint_cmd` and `analysis_cmds` read files the same way; `kubeopts` for
the cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, kube_options
from rollouts.cli.manifest_files import UNUSABLE, read_documents
from rollouts.cli.output import dump_object
from rollouts.kube import ANALYSIS_TEMPLATE, CLUSTER_ANALYSIS_TEMPLATE, ROLLOUT, KubeError
from rollouts.timeline import PlanProblem, Timeline, plan_timeline
from rollouts.timeline.live import mark_live
from rollouts.timeline.render import render_timeline

__all__ = ["load_manifests", "plan"]

def _unusable(message: str) -> UsageProblem:
    return UsageProblem(message, exit_code=UNUSABLE)


def load_manifests(paths: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every mapping document of the files, in order; a `UsageProblem` (exit 2) for a
    file that cannot be read or is not YAML."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        for number, doc in read_documents(path):
            if not isinstance(doc, dict):
                raise _unusable(f"{path}: document {number} is not a mapping; give "
                                "Kubernetes manifests")
            docs.append(doc)
    return docs


def _templates(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return _named([d for d in docs if d.get("kind") == kind])


def _named(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str((d.get("metadata") or {}).get("name")): d for d in items
            if (d.get("metadata") or {}).get("name")}


def _pick_rollout(docs: list[dict[str, Any]], name: str | None, source: str
                  ) -> dict[str, Any] | None:
    rollouts = [d for d in docs if d.get("kind") == "Rollout"]
    names = [str((d.get("metadata") or {}).get("name") or "?") for d in rollouts]
    if name is not None:
        chosen = [d for d, n in zip(rollouts, names, strict=True) if n == name]
        if chosen:
            return chosen[0]
        if rollouts:
            raise _unusable(f"{source} has no Rollout named '{name}' (it has: "
                            f"{', '.join(names)}); fix the name")
        return None
    if len(rollouts) > 1:
        raise _unusable(f"{source} holds {len(rollouts)} Rollouts ({', '.join(names)}); "
                        "name one: rollouts plan -f FILE NAME")
    if not rollouts:
        kinds = sorted({str(d.get("kind")) for d in docs if d.get("kind")})
        held = f" (it holds: {', '.join(kinds)})" if kinds else ""
        raise _unusable(f"{source} holds no Rollout{held}; give a Rollout manifest")
    return rollouts[0]


def _live(name: str, kube: KubeOptions, docs: list[dict[str, Any]]
          ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    session = kube.session()
    with session.calling("get", "rollout", name):
        rollout = session.client.get(ROLLOUT, session.namespace, name)
    with session.calling("list", "analysis templates"):
        listed = session.client.list(ANALYSIS_TEMPLATE, session.namespace).items
    notes: list[str] = []
    try:
        cluster = session.client.list(CLUSTER_ANALYSIS_TEMPLATE, None).items
    except KubeError as error:
        # Reading them is not essential: the plan names the templates it could not see.
        cluster = []
        notes.append(f"ClusterAnalysisTemplates not read ({error.message.splitlines()[0]})")
    # Listed items may come without `kind`: they are the kinds asked for.
    templates = {**_named(listed), **_templates(docs, "AnalysisTemplate")}
    cluster_templates = {**_named(cluster), **_templates(docs, "ClusterAnalysisTemplate")}
    return rollout, templates, cluster_templates, notes


@click.command("plan")
@click.argument("name", required=False)
@click.option("-f", "--filename", "paths", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, allow_dash=True),
              help="A manifest file with the Rollout and/or its AnalysisTemplates "
                   "(repeatable; - for stdin).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table, or the documented JSON shape.")
@kube_options
def plan(name: str | None, paths: tuple[str, ...], output: str, kube: KubeOptions) -> None:
    """Show the timeline a Rollout will follow: steps, weights, ReplicaSet sizes,
    pauses, analysis gates, minimum total time.

    Analysis gates show their templates, arguments and each metric's query;
    blue-green Rollouts show their promotion points.

    \b
    rollouts plan -f rollout.yaml [-f templates.yaml] [NAME]   offline, from manifests
    rollouts plan NAME [-n NAMESPACE]                          a live Rollout, from its
                                                               current step on
    The plan comes from the controller's own planner run in a simulated cluster.
    Exit status: 0 planned; 2 the input cannot be planned.
    """
    docs = load_manifests(paths)
    source = ", ".join(paths) or "the files"
    rollout = _pick_rollout(docs, name, source) if paths else None
    notes: list[str] = []
    live = rollout is None
    if live:
        if name is None:
            raise _unusable("give a Rollout: rollouts plan -f rollout.yaml, or rollouts plan "
                            "NAME for one in the cluster")
        rollout, templates, cluster_templates, notes = _live(name, kube, docs)
    else:
        assert rollout is not None
        templates = _templates(docs, "AnalysisTemplate")
        cluster_templates = _templates(docs, "ClusterAnalysisTemplate")
    status = rollout.get("status") or {}
    # Live: the pod hashes the controller reported; offline None (the plan hashes the
    # template itself and the stable one is unknown).
    hashes = {key: str(status[field]) for key, field in (("Stable", "stableRS"),
                                                         ("Latest", "currentPodHash"))
              if status.get(field)} if live else None
    try:
        timeline = plan_timeline(rollout, templates, cluster_templates, hashes)
    except PlanProblem as problem:
        raise _unusable(f"{problem}") from None
    if live:
        mark_live(timeline, rollout, datetime.now(UTC))
    timeline.notes.extend(notes)
    _print(timeline, output)


def _print(timeline: Timeline, output: str) -> None:
    if output == "json":
        dump_object(timeline.to_json(), output)
    else:
        click.echo(render_timeline(timeline))
