"""`flows kestra-coverage`: which of Kestra's core types run here, are validated only, or
are not supported, and why (added to the `flows` group by runner.cli.main)."""

from __future__ import annotations

import json
from dataclasses import asdict

import click


@click.command("kestra-coverage")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="A Markdown table (the README's) or JSON rows.")
def kestra_coverage(fmt: str) -> None:
    """List every io.kestra.plugin.core.* type: runs, validated only or not supported (why)."""
    from runner.language.kestra_coverage import coverage, markdown
    from runner.tasks import default_registry

    rows = coverage(default_registry())
    if fmt == "json":
        click.echo(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        click.echo(markdown(rows), nl=False)
