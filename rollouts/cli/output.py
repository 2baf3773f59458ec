"""Printing an API object for `-o json|yaml`, the same way in every command."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

__all__ = ["dump_object"]


def dump_object(obj: Any, output: str) -> None:
    """Print `obj` as indented JSON (`output == "json"`) or as YAML in its own key order."""
    if output == "json":
        click.echo(json.dumps(obj, indent=2))
    else:
        click.echo(yaml.safe_dump(obj, sort_keys=False), nl=False)
