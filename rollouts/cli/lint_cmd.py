"""`rollouts lint FILE|DIR|-...`: check manifests offline, before they reach a cluster.

Prints one line per problem or note on stdout (`FILE:DOCUMENT:FIELD.PATH: SEVERITY: MESSAGE`,
SEVERITY `error`, `warning` or `note`) and a one-line summary on stderr. Exit status: 0 no
errors (warnings alone are fine, unless `--strict`; notes never count), 1 errors, 2 an
input could not be linted at all (missing, unreadable, not YAML/JSON, a document that is
not a mapping), reported as one line saying what to do.
The checking itself is `rollouts.lint`, which does no I/O.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from rollouts.lint import LintReport, UnusableInput, lint_text

__all__ = ["lint"]

_SUFFIXES = (".yaml", ".yml", ".json")
_STDIN = "-"


@dataclass(frozen=True)
class _Input:
    name: str
    path: Path | None  # None for stdin


@click.command("lint")
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|DIR|-...")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any).")
def lint(inputs: tuple[str, ...], strict: bool) -> None:
    """Check Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and
    Application manifests without a cluster.

    A DIR means every *.yaml, *.yml and *.json file under it (recursively, sorted,
    hidden directories skipped); - reads standard input. Other Kubernetes objects in the
    same files are skipped. Warnings name Argo fields rollouts does not implement yet;
    notes name fields that are rollouts' own extensions (never an error or a warning).

    Exit status: 0 no errors, 1 errors (or warnings with --strict), 2 an input could
    not be linted at all.
    """
    reports: list[LintReport] = []
    unusable = 0
    for item in _expand(inputs):
        if isinstance(item, UnusableInput):
            click.echo(f"error: {item}", err=True)
            unusable += 1
            continue
        try:
            report = _lint_one(item)
        except UnusableInput as unreadable:
            click.echo(f"error: {unreadable}", err=True)
            unusable += 1
            continue
        for problem in report.problems:
            click.echo(str(problem))
        reports.append(report)
    click.echo(_summary(reports, unusable), err=True)
    errors = sum(report.errors for report in reports)
    warnings = sum(report.warnings for report in reports)
    # sys.exit rather than ctx.exit: the entry point runs click with standalone_mode=False,
    # where an Exit's code is returned by cli.main() instead of ending the process.
    if unusable:
        sys.exit(2)
    if errors or (strict and warnings):
        sys.exit(1)


def _expand(inputs: tuple[str, ...]) -> Iterator[_Input | UnusableInput]:
    for raw in inputs:
        if raw == _STDIN:
            yield _Input("<stdin>", None)
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(_files_under(path))
            if not files:
                yield UnusableInput(
                    f"{raw}: no *.yaml, *.yml or *.json files in this directory: "
                    "give the directory that holds the manifests"
                )
            for file in files:
                yield _Input(str(file), file)
        elif path.is_file():
            yield _Input(raw, path)
        elif path.exists():
            yield UnusableInput(f"{raw}: not a regular file or directory: give a manifest file")
        else:
            yield UnusableInput(f"{raw}: no such file or directory: check the path")


def _files_under(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            if name.endswith(_SUFFIXES) and not name.startswith("."):
                yield Path(root) / name


def _lint_one(item: _Input) -> LintReport:
    try:
        data = sys.stdin.buffer.read() if item.path is None else item.path.read_bytes()
    except OSError as error:
        raise UnusableInput(
            f"{item.name}: cannot be read ({error.strerror or error}): check its permissions"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnusableInput(
            f"{item.name}: not UTF-8 text: lint YAML or JSON manifests, saved as UTF-8"
        ) from None
    if item.name.endswith(".json"):
        return lint_text(text, item.name, syntax="json")
    return lint_text(text, item.name)


def _summary(reports: list[LintReport], unusable: int) -> str:
    files = len(reports) + unusable
    documents = sum(report.documents for report in reports)
    checked = sum(report.checked for report in reports)
    skipped = sum(report.skipped for report in reports)
    errors = sum(report.errors for report in reports)
    warnings = sum(report.warnings for report in reports)
    text = (
        f"rollouts lint: {_plural(files, 'file')}, {_plural(documents, 'document')}: "
        f"{checked} argoproj.io {'object' if checked == 1 else 'objects'} checked, "
        f"{skipped} other {'object' if skipped == 1 else 'objects'} skipped; "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    )
    notes = sum(report.notes for report in reports)
    if notes:  # remarks, not problems: only mentioned when there are some
        text += f", {_plural(notes, 'note')}"
    if unusable:
        text += f", {_plural(unusable, 'input')} could not be linted"
    return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
