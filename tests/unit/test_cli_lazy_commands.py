"""The `rollouts` group loads command modules on demand (rollouts.cli.main.LazyGroup).

The static table `COMMANDS` must say exactly what the modules provide (names, short help,
sub-commands), or `rollouts --help` would lie; and `--help` must not import them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from rollouts.cli.main import COMMANDS, cli, load_all

MODULES = ("analysis_cmds", "app_cmds", "cluster_cmds", "controller_cmd", "dev_cmd",
           "experiment_cmds", "lint_cmd", "plan_cmd", "proj_cmds", "rollout_cmds")


def eager() -> click.Group:
    """Every command module registered at once, as `rollouts.cli.main` used to."""
    from rollouts.cli import (
        analysis_cmds,
        app_cmds,
        cluster_cmds,
        controller_cmd,
        dev_cmd,
        experiment_cmds,
        lint_cmd,
        plan_cmd,
        proj_cmds,
        rollout_cmds,
    )

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    def group() -> None:
        """Progressive delivery and GitOps for Kubernetes."""

    group.add_command(cluster_cmds.cluster)
    group.add_command(controller_cmd.controller)
    group.add_command(dev_cmd.dev)
    group.add_command(lint_cmd.lint)
    group.add_command(plan_cmd.plan)
    for module in (rollout_cmds, analysis_cmds, experiment_cmds, app_cmds, proj_cmds):
        module.register(group)
    return group


def test_the_table_names_every_command_with_its_short_help() -> None:
    real = eager().commands
    assert sorted(COMMANDS) == sorted(real)
    for name, command in real.items():
        assert COMMANDS[name].help == command.get_short_help_str(10**6), name


def test_each_command_loads_with_the_same_sub_commands_and_help() -> None:
    real = eager().commands
    loaded = load_all().commands
    assert sorted(loaded) == sorted(real)
    for name, command in real.items():
        assert loaded[name].get_short_help_str(10**6) == command.get_short_help_str(10**6)
        if isinstance(command, click.Group):
            lazy = loaded[name]
            assert isinstance(lazy, click.Group)
            assert sorted(lazy.commands) == sorted(command.commands), name


def test_help_lists_the_same_commands_as_the_real_ones() -> None:
    listing = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert listing.exit_code == 0
    assert listing.output.split("Commands:")[1] == \
        CliRunner().invoke(eager(), ["--help"], terminal_width=100).output.split("Commands:")[1]


def test_help_imports_no_command_module() -> None:
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rollouts.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0 and 'controller' in result.output, result.output\n"
        "import json; print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    imported = set(json.loads(done.stdout))
    assert not {f"rollouts.cli.{module}" for module in MODULES} & imported
    assert "kubernetes" not in imported


def test_a_command_loads_only_its_modules() -> None:
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rollouts.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['proj', '--help'])\n"
        "assert result.exit_code == 0 and 'AppProjects' in result.output, result.output\n"
        "import json; print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    imported = set(json.loads(done.stdout))
    assert "rollouts.cli.proj_cmds" in imported
    assert not {"rollouts.cli.controller_cmd", "rollouts.cli.analysis_cmds",
                "rollouts.cli.rollout_cmds"} & imported


def test_an_unknown_command_is_a_one_line_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.output
