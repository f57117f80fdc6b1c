"""`pacsguard`: the command line. Thin: commands call into infra/, stacks/, policies/, orthanc_config/."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from pacsguard.errors import user_errors
from pacsguard.local_cli import local_app
from stacks.loader import STACKS_DIR

app = typer.Typer(
    help="Deploy an Orthanc PACS on AWS secure by default, and prove it at plan, cloud and wire level.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)
app.add_typer(local_app, name="local")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from pacsguard import __version__

        typer.echo(f"pacsguard {__version__}")
        raise typer.Exit()


class PlanFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def plan(
    stack: str = typer.Option("dev", "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    fmt: PlanFormat = typer.Option(PlanFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    stacks_dir: Path = typer.Option(STACKS_DIR, "--stacks-dir", help="Folder of the Pulumi.<stack>.yaml files."),
) -> None:
    """Synthesise a stack offline (SDK mocks: no Pulumi CLI, cloud or credentials) and report it."""
    from infra.synth import synthesize
    from pacsguard.inventory import plan_document, print_plan_table
    from pacsguard.output import report_console
    from stacks.loader import SettingsError, load_settings

    with user_errors(SettingsError):
        load_settings(stack, stacks_dir)  # fail fast, before the SDK is imported
    with err.status(f"Synthesising stack {stack} offline..."):
        synth = synthesize(stack, stacks_dir)
    doc = plan_document(synth, findings=[])
    with report_console(output) as out:
        if fmt is PlanFormat.json:
            out.file.write(json.dumps(doc, indent=2) + "\n")
        else:
            print_plan_table(doc, out)
    if output:
        err.print(f"wrote {output}")


def main() -> None:
    app()
