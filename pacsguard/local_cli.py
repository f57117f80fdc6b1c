"""`pacsguard local ...`: the embedded default, the whole hardened PACS on this machine."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from orthanc_config.local_defaults import DEFAULT_NAME, DEFAULT_STATE, DEFAULT_SUBNET
from pacsguard.break_glass_cli import break_glass_app
from pacsguard.errors import user_errors
from pacsguard.machine_token_cli import machine_token
from pacsguard.output import stderr_console

if TYPE_CHECKING:  # the local stack's machinery (cryptography, the bootstrap) loads when a command runs
    from orthanc_config.local_stack import LocalOptions

local_app = typer.Typer(help="Run the hardened PACS locally, in its own network namespace.", no_args_is_help=True)
local_app.add_typer(break_glass_app, name="break-glass")
local_app.command("machine-token")(machine_token)

NAME = typer.Option(DEFAULT_NAME, "--name", help="Stack name: also the network namespace's name.")
STATE = typer.Option(DEFAULT_STATE, "--state-dir", help="Where keys, configuration, images and logs live.")
SUBNET = typer.Option(DEFAULT_SUBNET, "--subnet", help="A /24 inside 198.18.0.0/15 for the namespace link.")


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


def _forward(address: str | None, ca: Path | None, cert: Path | None, key: Path | None, server_name: str | None
             ) -> tuple[tuple[str, str], ...]:  # fmt: skip
    """--audit-forward and its TLS files as the profile's audit_forward (RFC 5425)."""
    from pacsguard.errors import UserError

    extra = {"--audit-forward-ca": ca, "--audit-forward-cert": cert, "--audit-forward-key": key,
             "--audit-forward-name": server_name}  # fmt: skip
    if address is None:
        given = [flag for flag, value in extra.items() if value]
        if given:
            raise UserError(f"{', '.join(given)} without --audit-forward HOST:PORT: name the audit repository")
        return ()
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--audit-forward {address!r}: give the audit repository as HOST:PORT (e.g. 198.18.0.1:6514)")
    if ca is None:
        raise UserError("--audit-forward needs --audit-forward-ca: the CA that signed the repository's certificate")
    if bool(cert) != bool(key):
        raise UserError("--audit-forward-cert and --audit-forward-key go together (this host's client certificate)")
    for flag, path in (("--audit-forward-ca", ca), ("--audit-forward-cert", cert), ("--audit-forward-key", key)):
        if path is not None and not path.is_file():
            raise UserError(f"{flag} {path}: no such file")
    fields = {"host": host.strip("[]"), "port": port, "ca": str(ca.resolve())}
    if cert and key:
        fields |= {"cert": str(cert.resolve()), "key": str(key.resolve())}
    if server_name:
        fields["server_name"] = server_name
    return tuple(fields.items())


def _options(name: str, state_dir: Path, subnet: str, install_packages: bool = True) -> LocalOptions:
    import ipaddress

    from orthanc_config.local_stack import LocalOptions
    from pacsguard.errors import UserError

    try:
        net = ipaddress.ip_network(f"{subnet}/24")
    except ValueError:
        raise UserError(f"--subnet {subnet}: not an IPv4 /24 network address such as 198.18.0.0") from None
    if not net.subnet_of(ipaddress.ip_network("198.18.0.0/15")):
        raise UserError(f"--subnet {subnet}: use 198.18.0.0/15 (benchmark space), never a routable or RFC 1918 range")
    if not name.isalnum() or len(name) > 11:
        raise UserError(f"--name {name!r}: letters and digits only, at most 11 characters (interface names)")
    return LocalOptions(name=name, state_dir=state_dir, subnet=subnet, install_packages=install_packages)


def _progress() -> tuple[object, list[int]]:
    counter = [0]

    def say(message: str) -> None:
        counter[0] += 1
        stderr_console().print(f"[bold cyan][{counter[0]:>2}][/bold cyan] {message}")

    return say, counter


@local_app.command("up")
def up(
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    skip_packages: bool = typer.Option(False, "--skip-packages", help="Do not check or install Debian packages."),
    audit_forward: str | None = typer.Option(
        None, "--audit-forward", help="HOST:PORT of an audit repository: every record also goes there (RFC 5425)."
    ),
    audit_forward_ca: Path | None = typer.Option(None, help="CA that signed the repository's TLS certificate."),
    audit_forward_cert: Path | None = typer.Option(None, help="This host's client certificate for the repository."),
    audit_forward_key: Path | None = typer.Option(None, help="Its key."),
    audit_forward_name: str | None = typer.Option(None, help="Name in the repository's certificate [default: HOST]."),
) -> None:
    """Bring up PostgreSQL (its Unix socket only), Orthanc (DICOM mutual TLS, RBAC, audit), nginx and the firewall."""
    import dataclasses
    import time

    from orthanc_config.local_stack import LocalStackError, connection_help
    from orthanc_config.local_stack import up as stack_up

    with user_errors(LocalStackError, OSError):
        forward = _forward(audit_forward, audit_forward_ca, audit_forward_cert, audit_forward_key, audit_forward_name)
        opts = dataclasses.replace(_options(name, state_dir, subnet, not skip_packages), audit_forward=forward)
        say, _ = _progress()
        start = time.monotonic()
        doc = stack_up(opts, say=say)  # type: ignore[arg-type]
    stderr_console().print(f"[green]Local PACS is up[/green] in {time.monotonic() - start:.1f}s")
    for line in connection_help(doc):
        typer.echo(line)


@local_app.command("status")
def status(
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    fmt: StatusFormat = typer.Option(StatusFormat.table, "--format", "-f"),
) -> None:
    """Describe the running local stack (JSON: the target description `pacsguard verify` reads)."""
    from orthanc_config.local_stack import LocalStackError
    from orthanc_config.local_stack import status as stack_status

    with user_errors(LocalStackError):
        doc = stack_status(_options(name, state_dir, subnet))
    if fmt is StatusFormat.json:
        typer.echo(json.dumps(doc, indent=2))
        return
    for key in ("https_url", "dicom", "ca_cert", "credentials_file", "netns", "audit_log"):
        typer.echo(f"{key:18} {doc[key]}")
    for m in doc["modalities"]:
        typer.echo(f"{'modality':18} {m['aet']} ({', '.join(m['rights'])}) cert {m['cert']}")


@local_app.command("down")
def down(
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
    purge: bool = typer.Option(False, "--purge", help="Also delete images, database, keys and passwords."),
) -> None:
    """Stop everything the local stack started and remove its namespace."""
    from orthanc_config.local_stack import LocalStackError
    from orthanc_config.local_stack import down as stack_down

    with user_errors(LocalStackError, OSError):
        say, _ = _progress()
        stack_down(_options(name, state_dir, subnet), purge=purge, say=say)  # type: ignore[arg-type]


@local_app.command("backup")
def backup(
    output: Path = typer.Option(..., "--output", "-o", help="The sealed archive to write (0600)."),
    key: Path = typer.Option(..., "--key", help="AES-256 key file (hex); created, 0600, when missing. Keep it apart."),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
) -> None:
    """Back up the index (pg_dump) and the image store, sealed with AES-256-GCM under a key you hold."""
    from orthanc_config.local_backup import backup as do_backup
    from orthanc_config.local_stack import LocalStackError
    from orthanc_config.sealed_stream import SealError

    with user_errors(LocalStackError, SealError, OSError):
        say, _ = _progress()
        report = do_backup(_options(name, state_dir, subnet), output, key, say=say)  # type: ignore[arg-type]
    typer.echo(json.dumps(report, indent=2))


@local_app.command("restore")
def restore(
    archive: Path = typer.Option(..., "--input", "-i", help="A sealed archive from `pacsguard local backup`."),
    key: Path = typer.Option(..., "--key", help="The key the archive was sealed with."),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
) -> None:
    """Restore an archive into a running (fresh) stack, then verify counts and every image file's MD5."""
    from orthanc_config.local_backup import restore as do_restore
    from orthanc_config.local_stack import LocalStackError
    from orthanc_config.sealed_stream import SealError

    with user_errors(LocalStackError, SealError, OSError):
        say, _ = _progress()
        report = do_restore(_options(name, state_dir, subnet), archive, key, say=say)  # type: ignore[arg-type]
    typer.echo(json.dumps(report, indent=2))
