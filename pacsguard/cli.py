"""`pacsguard`: the command line. Thin: commands call into infra/, stacks/, policies/, orthanc_config/.

Importing this module (and so `pacsguard --help`) loads typer and the command modules only: each command imports
the libraries it uses (pydantic, rich, cryptography, boto3, the Pulumi SDK) when it runs.
tests/unit/test_cli_imports.py holds every command to that.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from pacsguard.audit_cli import audit, emulator_app
from pacsguard.audit_log_cli import audit_log
from pacsguard.aws_cli import aws_app
from pacsguard.errors import user_errors
from pacsguard.local_cli import local_app
from pacsguard.output import emit, progress, report_console, stderr_console, write_report
from pacsguard.pki_cli import pki_app
from pacsguard.reports import ReportFormat

app = typer.Typer(
    help="Deploy an Orthanc PACS on AWS secure by default, and prove it at plan, cloud and wire level.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(local_app, name="local")
app.add_typer(emulator_app, name="emulator")
app.add_typer(pki_app, name="pki")
app.add_typer(aws_app, name="aws")
app.command("audit")(audit)
app.command("audit-log")(audit_log)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from pacsguard import __version__

        typer.echo(f"pacsguard {__version__}")
        raise typer.Exit()


class ControlsFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command()
def plan(
    stack: str = typer.Option("dev", "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    stacks_dir: Path | None = typer.Option(
        None, "--stacks-dir", help="Folder of the Pulumi.<stack>.yaml files.", show_default="the project's stacks/"
    ),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        envvar="PACSGUARD_PLAN_CACHE",
        help="Reuse the synthesis of an unchanged tree and the enumerations of unchanged AWS API models; --no-cache "
        "(or PACSGUARD_PLAN_CACHE=0) neither reads nor writes them (pulumi-aws' compiled slices, keyed by each "
        "file's hash like bytecode, are still used).",
    ),
) -> None:
    """Synthesise a stack offline (no Pulumi CLI, cloud or credentials) and check every control on it.

    Exit code 0 when no critical or high control fails, 1 when one does, 2 on bad input.
    """
    from infra.synth_gc import paused_gc

    # A short batch job: the cyclic collector only slows it down. Run as the console script, the process ends with
    # the command, so nothing it made is worth a collection on the way out (infra/synth_gc.py).
    with paused_gc(freeze=_process_ends_with_command):
        _plan(stack, fmt, output, stacks_dir, cache)


def _plan(stack: str, fmt: ReportFormat, output: Path | None, stacks_dir: Path | None, cache: bool) -> None:
    from infra.synth_cache import plan_synthesis
    from pacsguard.inventory import plan_document
    from pacsguard.reports import ReportContext
    from policies import api_enums
    from policies.catalog import controls
    from policies.evaluate import evaluate, exit_code
    from policies.graph import PlanGraph
    from stacks.loader import STACKS_DIR, SettingsError, load_settings, stack_file

    stacks_dir = stacks_dir or STACKS_DIR
    with user_errors(SettingsError):
        load_settings(stack, stacks_dir)  # fail fast, before the SDK is imported
    with progress(f"Synthesising stack {stack} offline..."):
        synth, locations = plan_synthesis(stack, stacks_dir, use_cache=cache)
    with api_enums.cached(cache):
        findings = evaluate(PlanGraph.from_synthesis(synth))
    ctx = ReportContext(
        layer="plan",
        target=stack,
        controls=controls(),
        source_file=str(stack_file(stack, stacks_dir).relative_to(Path.cwd()))
        if stack_file(stack, stacks_dir).is_relative_to(Path.cwd())
        else str(stack_file(stack, stacks_dir)),
        resource_urns={r.name: r.urn for r in synth.resources},
        resource_files=locations,
    )
    if fmt is ReportFormat.json:
        write_report(json.dumps(plan_document(synth, [f.as_dict() for f in findings]), indent=2), output)
    else:
        emit(fmt, findings, ctx, output, inventory=synth)
    raise typer.Exit(exit_code(findings))


@app.command()
def verify(
    target: Path | None = typer.Option(
        None, "--target", "-t", help="Target description (JSON) [default: the running local stack]."
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    allow_skipped: bool = typer.Option(
        False,
        "--allow-skipped",
        help="Do not fail on critical/high controls whose every probe was skipped (the target does not describe "
        "what they need). The report says so.",
    ),
) -> None:
    """Attack a running PACS as a modality, a user and an intruder would (testinfra, pynetdicom, HTTPS probes).

    Exit code 0 when every critical or high control was proven, 1 when one fails, errs or had every probe skipped,
    2 when the target is missing or unreachable.
    """
    import tempfile

    from orthanc_config.local_stack import LocalOptions, LocalStackError
    from orthanc_config.local_stack import status as local_status
    from pacsguard.reports import ReportContext, allowed_skips_note
    from pacsguard.verify import TargetError, attack_cases, run
    from policies.catalog import controls
    from policies.evaluate import exit_code

    with user_errors(TargetError, LocalStackError):
        if target is None:
            doc = local_status(LocalOptions())
            handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
            handle.write(json.dumps(doc))
            handle.close()
            target = Path(handle.name)
        err = stderr_console()
        findings = run(target, echo=lambda line: err.print(line, markup=False, highlight=False))
    cases = attack_cases(findings)
    err.print(f"Attack cases: {cases['ran']} ran, {cases['held']} held, {cases['skipped']} skipped", highlight=False)
    summary = {f"attack_cases_{k}": v for k, v in cases.items()}
    notes = allowed_skips_note(findings, "every probe was skipped") if allow_skipped else ()
    ctx = ReportContext(layer="wire", target=str(target), controls=controls(), summary=summary, notes=notes)
    if fmt is ReportFormat.json:
        doc = {"target": str(target), "attack_cases": cases, "allow_skipped": allow_skipped, "notes": list(notes),
               "findings": [f.as_dict() for f in findings]}  # fmt: skip
        write_report(json.dumps(doc, indent=2), output)
    else:
        emit(fmt, findings, ctx, output)
    raise typer.Exit(exit_code(findings, allow_skipped))


@app.command("controls")
def list_controls(
    fmt: ControlsFormat = typer.Option(ControlsFormat.table, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """The control catalog: ids, severities, citations and the layers that check each control."""
    from rich.table import Table

    from policies.catalog import controls
    from policies.catalog_doc import as_json, render_markdown

    if fmt is ControlsFormat.json:
        write_report(json.dumps([as_json(c) for c in controls()], indent=2), output)
    elif fmt is ControlsFormat.markdown:
        write_report(render_markdown(controls()), output)
    else:
        table = Table(title=f"{len(controls())} controls")
        for col in ("id", "severity", "title", "HIPAA", "layers"):
            table.add_column(col)
        for c in controls():
            table.add_row(c.id, c.severity, c.title, "\n".join(c.citations.hipaa), ", ".join(c.layers))
        with report_console(output) as out:
            out.print(table)


_process_ends_with_command = False  # True under main(): not when a caller (a test) invokes `app` in its own process


def main() -> None:
    global _process_ends_with_command
    _process_ends_with_command = True
    app()


if __name__ == "__main__":
    main()
