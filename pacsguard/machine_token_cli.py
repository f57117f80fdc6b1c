"""`pacsguard local machine-token`: what Cognito's token endpoint is on AWS, for the local stack's machine clients."""

from __future__ import annotations

from pathlib import Path

import typer

from orthanc_config.local_defaults import DEFAULT_NAME, DEFAULT_STATE, DEFAULT_SUBNET
from pacsguard.errors import user_errors


def machine_token(
    client: str = typer.Option(
        "ai-pipeline", "--client", help="A local machine client: ai-pipeline (read), router (store)."
    ),
    minutes: int = typer.Option(15, "--minutes", help="Token lifetime, 1 to 60 minutes."),
    name: str = typer.Option(DEFAULT_NAME, "--name", help="Stack name."),
    state_dir: Path = typer.Option(DEFAULT_STATE, "--state-dir", help="The stack's state directory."),
    subnet: str = typer.Option(DEFAULT_SUBNET, "--subnet", help="The stack's /24."),
) -> None:
    """Print an RS256 access token for a local machine client (use it as `Authorization: Bearer TOKEN`)."""
    from orthanc_config.layout import HostLayout
    from orthanc_config.local_stack import LocalOptions, LocalStackError, local_profile
    from orthanc_config.machine_issuer import IssuerError, LocalIssuer

    with user_errors(IssuerError, LocalStackError, OSError):
        layout = HostLayout(local_profile(LocalOptions(name=name, state_dir=state_dir, subnet=subnet)))
        if not layout.machine_issuer_key.exists():
            raise LocalStackError(f"no machine issuer key at {layout.machine_issuer_key}: run `pacsguard local up`")
        issuer = LocalIssuer(layout.profile.machine_issuer, layout.machine_issuer_key, layout.machine_jwks_file)
        typer.echo(issuer.mint(client, minutes * 60))
