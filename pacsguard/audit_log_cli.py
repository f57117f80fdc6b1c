"""`pacsguard audit-log`: export the audit trail for a time range, as JSON or as DICOM PS3.15 audit messages."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from pacsguard.errors import EXIT_FINDINGS, user_errors
from pacsguard.output import write_report


class ExportFormat(StrEnum):
    json = "json"
    dicom = "dicom"


def _default_trail() -> Path:
    from orthanc_config.layout import HostLayout
    from orthanc_config.local_stack import LocalOptions, local_profile

    return HostLayout(local_profile(LocalOptions())).audit_log


def audit_log(
    since: str | None = typer.Option(None, "--since", help="ISO 8601 start (inclusive) [default: the trail's start]."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601 end (exclusive) [default: now]."),
    fmt: ExportFormat = typer.Option(ExportFormat.json, "--format", "-f", help="json, or dicom (PS3.15 A.5 XML)."),
    trail: Path | None = typer.Option(None, "--trail", help="The trail file [default: the local stack's]."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the export here instead of stdout."),
) -> None:
    """Export the audit trail for a time range, after verifying its hash chain.

    Exit code 0 when the chain is intact, 1 when it is broken (the export is still written, marked so),
    2 on bad input (no trail, a time that is not ISO 8601).
    """
    from pacsguard.audit_export import ExportError, export

    with user_errors(ExportError):
        text, chain = export(trail or _default_trail(), fmt.value, since, until)
    write_report(text, output)
    if not chain.intact:
        print(f"pacsguard: the audit trail's chain is broken: {'; '.join(chain.problems[:3])}", file=sys.stderr)
        raise typer.Exit(EXIT_FINDINGS)
