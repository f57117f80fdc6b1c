"""`pacsguard pki issue|revoke|list|rotate`: the certificates of the DICOM edge.

The local stack's CA sits in its PKI folder. An EC2 stack's shared CA is reached through
`orthanc_config.pki_lifecycle.CertificateAuthority`; until that backend exists the command says what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from orthanc_config.profile import RIGHTS
from pacsguard.errors import user_errors
from pacsguard.local_cli import NAME, STATE, SUBNET
from pacsguard.output import stderr_console

if TYPE_CHECKING:  # the PKI (cryptography) loads when a command runs, not for --help
    from orthanc_config.local_stack import LocalOptions

pki_app = typer.Typer(help="Certificates of the DICOM edge: issue, revoke, list, rotate.", no_args_is_help=True)

STACK = typer.Option(None, "--stack", help="An EC2 stack (its shared CA) instead of the local stack.")


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def _options(name: str, state_dir: Path, subnet: str, stack: str | None) -> LocalOptions:
    from orthanc_config.pki_lifecycle import SharedCa
    from pacsguard.local_cli import _options as local_options

    if stack:
        SharedCa(stack).signing_pair()  # raises CaUnavailable naming what is needed
    return local_options(name, state_dir, subnet, install_packages=False)


def _rights(value: str | None) -> tuple[str, ...] | None:
    from orthanc_config.profile import ProfileError

    if value is None:
        return None
    rights = tuple(r.strip() for r in value.split(",") if r.strip())
    bad = [r for r in rights if r not in RIGHTS]
    if bad or not rights:
        raise ProfileError(f"--rights {value!r}: a comma-separated list of {', '.join(RIGHTS)}")
    return rights


@contextmanager
def _pki_errors() -> Iterator[None]:
    """Bad input or an unusable stack/CA: one line and exit 2 (imported late: `--help` stays fast)."""
    from orthanc_config.local_stack import LocalStackError
    from orthanc_config.pki_lifecycle import CaUnavailable
    from orthanc_config.profile import ProfileError

    with user_errors(ProfileError, LocalStackError, CaUnavailable, OSError):
        yield


def _say(message: str) -> None:
    stderr_console().print(message, markup=False, highlight=False)


def _print_records(records: list) -> None:
    for r in records:
        typer.echo(f"{r.name}  serial {r.serial:x}  expires {r.not_after[:10]}  cert {r.cert}  key {r.key}")


@pki_app.command("issue")
def issue(
    aet: str = typer.Argument(..., help="The modality's AE title (new or without a valid certificate)."),
    host: str | None = typer.Option(None, "--host", help="The modality's IP address (needed for a new modality)."),
    rights: str | None = typer.Option(None, "--rights", help=f"Comma-separated: {', '.join(RIGHTS)}."),
    port: int = typer.Option(104, "--port", help="The modality's own DICOM port (C-MOVE/C-STORE destination)."),
    days: int | None = typer.Option(None, "--days", help="Validity in days (at most 398)."),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    stack: str | None = STACK,
) -> None:
    """Issue a modality certificate; a new AE title joins Orthanc's allow-list (Orthanc restarts for that)."""
    from orthanc_config import local_pki

    with _pki_errors():
        opts = _options(name, state_dir, subnet, stack)
        change = local_pki.issue(opts, aet, host=host, rights=_rights(rights), port=port, days=days, say=_say)
    _print_records(change.records)


@pki_app.command("revoke")
def revoke(
    target: str = typer.Argument(..., help="An AE title (all its certificates) or a certificate serial (hex)."),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    stack: str | None = STACK,
) -> None:
    """Revoke: the CRL and nginx's certificate map change, nginx reloads; Orthanc keeps running."""
    from orthanc_config import local_pki

    with _pki_errors():
        change = local_pki.revoke(_options(name, state_dir, subnet, stack), target, say=_say)
    _print_records(change.records)


@pki_app.command("rotate")
def rotate(
    target: str = typer.Argument(..., help="`server`, or a modality's AE title."),
    overlap_days: int = typer.Option(7, "--overlap-days", help="How long a modality's old certificate stays valid."),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    stack: str | None = STACK,
) -> None:
    """New server certificates, or a modality's successor certificate with an overlap period."""
    from orthanc_config import local_pki

    with _pki_errors():
        change = local_pki.rotate(_options(name, state_dir, subnet, stack), target, overlap_days, say=_say)
    _print_records(change.records)


@pki_app.command("list")
def list_certificates(
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f"),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    stack: str | None = STACK,
) -> None:
    """Every certificate with its expiry and status; warns on stderr about those about to expire."""
    from orthanc_config import local_pki
    from orthanc_config.pki_lifecycle import FAIL_DAYS

    with _pki_errors():
        rows = local_pki.listing(_options(name, state_dir, subnet, stack))
    for row in rows:
        if row["status"] == "expiring":  # within WARN_DAYS
            urgency = "pacsguard verify fails it" if row["days_left"] < FAIL_DAYS else "rotate it soon"
            _say(f"warning: {row['name']} ({row['serial']}) expires in {row['days_left']} days: {urgency}")
    if fmt is ListFormat.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['kind']:9} {row['name']:16} {row['status']:9} {row['not_after'][:10]} "
            f"({row['days_left']:>4} d)  serial {row['serial']}  {','.join(row['usages'])}"
        )
