"""`pacsguard audit` and `pacsguard emulator`: the cloud layer of the controls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from pacsguard.errors import fail, user_errors
from pacsguard.output import emit, stderr_console, write_report
from pacsguard.reports import ReportFormat

emulator_app = typer.Typer(help="A local AWS emulator (moto) on 127.0.0.1 for test stacks.", no_args_is_help=True)


def audit(
    stack: str = typer.Option("dev", "--stack", "-s", help="Audit resources tagged pacsguard:stack=NAME."),
    region: str | None = typer.Option(
        None, "--region", help="Region to audit [default: the stack file's, else AWS_REGION]."
    ),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile (read-only credentials are enough)."),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="Another endpoint, e.g. the emulator's."),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    policy: bool = typer.Option(
        False, "--print-iam-policy", help="Print the auditor's least-privilege IAM policy and exit."
    ),
    allow_skipped: bool = typer.Option(
        False,
        "--allow-skipped",
        help="Do not fail on critical/high controls skipped because the endpoint lacks an API (emulators). "
        "The report says so.",
    ),
) -> None:
    """Check what the AWS account actually runs against every control with a cloud check.

    Exit code 0 when no critical or high control fails, errs or lacks evidence (skipped for want of an API,
    permissions or tagged resources), 1 when one does, 2 on bad input or an unreachable endpoint.
    """
    from pacsguard.reports import ReportContext, allowed_skips_note
    from policies.catalog import controls
    from policies.cloud.api import AwsApi, EndpointError
    from policies.cloud.audit import NoStackResources, run_audit
    from policies.cloud.context import CloudContext, not_applicable_by_design
    from policies.evaluate import exit_code
    from stacks.loader import SettingsError, load_settings, stack_file

    if policy:
        from importlib.resources import files

        typer.echo(files("policies.cloud").joinpath("auditor-policy.json").read_text(), nl=False)
        raise typer.Exit(0)
    environment, allowed, by_design = "prod", None, {}
    if stack_file(stack).exists():
        with user_errors(SettingsError):
            settings = load_settings(stack)
        environment, allowed = settings.environment, settings.allowed_regions
        by_design = not_applicable_by_design(settings)
        region = region or settings.region
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    api = AwsApi(region=region, profile=profile, endpoint_url=endpoint_url)
    with user_errors(EndpointError, NoStackResources):
        try:
            api.account_id = api.call("sts", "GetCallerIdentity")["Account"]
        except Exception as exc:
            fail(f"cannot identify the account at {endpoint_url or 'AWS'}: {exc}")
        cx = CloudContext(
            api=api, stack=stack, environment=environment, allowed_regions=allowed, not_applicable=by_design
        )
        with stderr_console().status("Auditing...") as status:
            findings = run_audit(cx, progress=lambda cid: status.update(f"Auditing {cid}..."))
    notes = allowed_skips_note(findings) if allow_skipped else ()
    ctx = ReportContext(layer="cloud", target=f"{stack} ({api.account_id}, {region})", controls=controls(), notes=notes)
    if fmt is ReportFormat.json:
        doc = {
            "stack": stack,
            "account": api.account_id,
            "region": region,
            "allow_skipped": allow_skipped,
            "notes": list(notes),
            "findings": [f.as_dict() for f in findings],
        }
        write_report(json.dumps(doc, indent=2), output)
    else:
        emit(fmt, findings, ctx, output)
    raise typer.Exit(exit_code(findings, allow_skipped))


PORT = typer.Option(4566, "--port", help="Port on 127.0.0.1.")


@emulator_app.command("start")
def emulator_start(port: int = PORT) -> None:
    """Start moto in server mode on 127.0.0.1 and print the variables that point AWS tools at it."""
    from policies.cloud import emulator

    with user_errors(emulator.EmulatorError):
        info = emulator.start(port)
    stderr_console().print(
        f"moto is running on {info['url']} (pid {info['pid']}); stack config: stacks/Pulumi.emulator.yaml"
    )
    for key, value in emulator.environment(port).items():
        typer.echo(f"export {key}={value}")


@emulator_app.command("stop")
def emulator_stop(port: int = PORT) -> None:
    """Stop the emulator this tool started (and nothing else)."""
    from policies.cloud import emulator

    stopped = emulator.stop(port)
    stderr_console().print("stopped" if stopped else f"no emulator started by pacsguard on port {port}")


@emulator_app.command("status")
def emulator_status(port: int = PORT) -> None:
    """Say whether the emulator runs, and how to reach it."""
    from policies.cloud import emulator

    info = emulator.status(port)
    if not info:
        stderr_console().print(f"not running on port {port}")
        raise typer.Exit(1)
    typer.echo(json.dumps({**info, "environment": emulator.environment(port)}, indent=2))
