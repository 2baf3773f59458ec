"""Entry point of the `rollouts` command: a click group that each command module joins.

Errors a user can fix are raised as `UsageProblem` (or click's own errors) and printed
as one line, never as a traceback.
"""

from __future__ import annotations

import sys

import click

from rollouts import __version__
from rollouts.cli.errors import UsageProblem


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollouts")
def cli() -> None:
    """Progressive delivery and GitOps for Kubernetes."""


def _register() -> None:
    from rollouts.cli import (
        analysis_cmds,
        controller_cmd,
        dev_cmd,
        experiment_cmds,
        lint_cmd,
        proj_cmds,
        rollout_cmds,
    )
    from rollouts.cli.app_cmds import register as register_app_commands

    cli.add_command(controller_cmd.controller)
    cli.add_command(dev_cmd.dev)
    cli.add_command(lint_cmd.lint)
    rollout_cmds.register(cli)
    analysis_cmds.register(cli)
    experiment_cmds.register(cli)
    register_app_commands(cli)
    proj_cmds.register(cli)


_register()


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
