"""`pacsguard local break-glass open|close`: emergency read access to the local stack, sealed, timed and alarmed."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from orthanc_config.local_defaults import DEFAULT_NAME, DEFAULT_STATE, DEFAULT_SUBNET
from pacsguard.errors import user_errors

break_glass_app = typer.Typer(help="Emergency (break-glass) access: a read-only role inside a short window.")
NAME = typer.Option(DEFAULT_NAME, "--name", help="Stack name.")
STATE = typer.Option(DEFAULT_STATE, "--state-dir", help="The stack's state directory.")
SUBNET = typer.Option(DEFAULT_SUBNET, "--subnet", help="The stack's /24.")


def _layout(name: str, state_dir: Path, subnet: str):
    from orthanc_config.layout import HostLayout
    from orthanc_config.local_stack import LocalOptions, local_profile

    return HostLayout(local_profile(LocalOptions(name=name, state_dir=state_dir, subnet=subnet)))


@break_glass_app.command("open")
def open_(
    reason: str = typer.Option(..., "--reason", help="Whose care needs it, or which outage (audited)."),
    minutes: int = typer.Option(60, "--minutes", help="Window length; at most identity.emergency_access_minutes."),
    name: str = NAME,
    state_dir: Path = STATE,
    subnet: str = SUBNET,
) -> None:
    """Open a window and print the unsealed credential; every use is audited as emergency and alarmed."""
    from orthanc_config.break_glass import BreakGlassError, open_window
    from orthanc_config.local_stack import LocalStackError

    with user_errors(BreakGlassError, LocalStackError, OSError):
        doc = open_window(_layout(name, state_dir, subnet), reason, minutes, getpass.getuser())
    typer.echo(json.dumps(doc, indent=2))


@break_glass_app.command("close")
def close(name: str = NAME, state_dir: Path = STATE, subnet: str = SUBNET) -> None:
    """Close the window, reseal (rotate) the credential and reload Orthanc so the old one stops working."""
    from orthanc_config.bootstrap import configure
    from orthanc_config.break_glass import close_window
    from orthanc_config.local_stack import LocalOptions, LocalStackError, restart_orthanc

    with user_errors(LocalStackError, OSError):
        layout = _layout(name, state_dir, subnet)
        close_window(layout, getpass.getuser())
        opts = LocalOptions(name=name, state_dir=state_dir, subnet=subnet, install_packages=False)
        listen = (opts.link.ns_address, "127.0.0.1")  # the same addresses `local up` renders
        configure(layout.profile, say=lambda _m: None, install_packages=False, listen=listen)
        restart_orthanc(opts, say=lambda _m: None)
    typer.echo("Emergency access closed: window removed, credential resealed")
