"""Entry point of the `rollouts` command: a click group that loads command modules on demand.

Importing every command module costs well over a second of CPU (the controller's
packages, kubernetes, apscheduler, the analysis providers), which `rollouts --help` or
`rollouts app diff` would pay for commands they never run. So the group knows its
commands from a static table (`COMMANDS`: name -> short help and the modules that
contribute to it) and imports a module only when one of its commands is looked up;
`--help` lists every command from the table alone. A unit test
(`tests/unit/test_cli_lazy_commands.py`) checks the table against the real commands
(names, short help, sub-commands), so it cannot drift.

A module joins by a `register(cli)` function (several modules may add sub-commands to one
group: `get`, `list`) or, written `module:attribute`, by one command object.

Errors a user can fix are raised as `UsageProblem` (or click's own errors) and printed
as one line, never as a traceback.
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass

import click

from rollouts import __version__
from rollouts.cli.errors import UsageProblem

__all__ = ["COMMANDS", "LazyGroup", "cli", "load_all", "main"]


@dataclass(frozen=True)
class Entry:
    """A top-level command: its short help (as `--help` lists it) and who provides it."""

    help: str
    modules: tuple[str, ...]
    """`rollouts.cli.<module>` names, in registration order; `module:attr` is one command
    object added as it is, `module` a module whose `register(cli)` adds its commands."""


_ROLLOUT = "rollout_cmds"
COMMANDS: dict[str, Entry] = {
    "abort": Entry("Abort a rollout: traffic back to stable (blue-green: the active and "
                   "preview Services select the stable ReplicaSet again), phase Degraded.",
                   (_ROLLOUT,)),
    "analysis": Entry("Try analysis templates against live metrics, or past ones (backtest).",
                      ("analysis_cmds", "analysis_backtest")),
    "app": Entry("Argo CD Applications: list, get, sync, diff, history, rollback, wait.",
                 ("app_cmds",)),
    "cluster": Entry("Register other clusters as Application destinations: add, list, rm.",
                     ("cluster_cmds:cluster",)),
    "controller": Entry("Run the controllers until interrupted (SIGINT/SIGTERM).",
                        ("controller_cmd:controller",)),
    "dev": Entry("Run a real local Kubernetes control plane (etcd, kube-apiserver, kwok "
                 "nodes, ...).", ("dev_cmd:dev",)),
    "get": Entry("Show one object in detail.", (_ROLLOUT, "analysis_cmds", "experiment_cmds")),
    "lint": Entry("Check Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and "
                  "Application manifests without a cluster.", ("lint_cmd:lint",)),
    "list": Entry("List objects in a table.", (_ROLLOUT,)),
    "pause": Entry("Pause a rollout (spec.paused); `rollouts promote NAME` resumes it.",
                   (_ROLLOUT,)),
    "plan": Entry("Show the timeline a Rollout will follow: steps, weights, ReplicaSet "
                  "sizes, pauses, analysis gates, minimum total time.", ("plan_cmd:plan",)),
    "proj": Entry("Argo CD AppProjects: what Applications may use, where they deploy, when "
                  "they sync.", ("proj_cmds",)),
    "promote": Entry("Promote a paused rollout, or skip its current step.", (_ROLLOUT,)),
    "restart": Entry("Restart the pods of a rollout (spec.restartAt = now).", (_ROLLOUT,)),
    "retry": Entry("Retry an aborted rollout from the start: a canary's first step, a "
                   "blue-green preview (`retry NAME` or `retry rollout NAME`).", (_ROLLOUT,)),
    "set": Entry("Change a rollout's spec.", (_ROLLOUT,)),
    "status": Entry("Print a rollout's phase and message; made for CI pipelines.",
                    (_ROLLOUT,)),
    "terminate": Entry("Stop an experiment or an analysis run early (spec.terminate).",
                       ("experiment_cmds",)),
    "undo": Entry("Roll back to an earlier revision's pod template (a new revision, like "
                  "kubectl).", (_ROLLOUT,)),
}


def _merge(into: click.Group, command: click.Command, name: str) -> None:
    """Add `command` as `name`, merging a group's sub-commands into one already there."""
    existing = into.commands.get(name)
    if isinstance(existing, click.Group) and isinstance(command, click.Group) and \
            existing is not command:
        for sub_name, sub in command.commands.items():
            existing.add_command(sub, sub_name)
    elif existing is None:
        into.add_command(command, name)


class LazyGroup(click.Group):
    """A group whose commands come from `table` and are imported when looked up."""

    def __init__(self, *args: object, table: dict[str, Entry], package: str,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.table = table
        self.package = package
        self._provided: dict[str, click.Group] = {}
        """module -> the commands it provides, registered into a group of its own (so
        a module loaded for one name adds nothing else to this group)."""
        self._lock = threading.Lock()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.table, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        with self._lock:
            if cmd_name not in self.commands and cmd_name in self.table:
                for module in self.table[cmd_name].modules:
                    provided = self._provided_by(module).commands.get(cmd_name)
                    if provided is not None:
                        _merge(self, provided, cmd_name)
            return self.commands.get(cmd_name)

    def _provided_by(self, module: str) -> click.Group:
        if module not in self._provided:
            name, _, attribute = module.partition(":")
            loaded = importlib.import_module(f"{self.package}.{name}")
            group = click.Group(name)
            if attribute:
                command = getattr(loaded, attribute)
                group.add_command(command)
            else:
                loaded.register(group)
            self._provided[module] = group
        return self._provided[module]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the short help of commands not loaded from the table."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                command = click.Command(name, help=self.table[name].help)
            if not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in rows])


@click.group(cls=LazyGroup, table=COMMANDS, package="rollouts.cli",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollouts")
def cli() -> None:
    """Progressive delivery and GitOps for Kubernetes."""


def load_all() -> click.Group:
    """`cli` with every command loaded (for tests and tools that walk `cli.commands`)."""
    context = click.Context(cli)
    for name in cli.list_commands(context):
        cli.get_command(context, name)
    return cli


def main() -> None:
    """Run the CLI, turning user mistakes into one-line errors with a non-zero exit."""
    try:
        # Without standalone mode click returns ctx.exit(n)'s code instead of exiting.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as problem:
        click.echo(f"error: {problem.format_message()}", err=True)
        sys.exit(problem.exit_code)
    except UsageProblem as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(problem.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
