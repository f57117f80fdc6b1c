"""`pacsguard aws ...`: operator tasks on a deployed stack's hosts (read from AWS, never from a host)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from pacsguard.errors import fail

aws_app = typer.Typer(help="Operate a deployed stack's hosts.", no_args_is_help=True)


@aws_app.command("modality-cert")
def modality_cert(
    aet: str = typer.Argument(..., help="The modality's AE title, as in the stack's dicom.modalities."),
    secret_id: str = typer.Option(..., "--secret-id", help="The stack CA secret (name or ARN; a stack output)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for AET.crt, AET.key (0600) and ca.crt."),
    region: str | None = typer.Option(None, "--region", help="[default: AWS_REGION]"),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="Another endpoint, e.g. the emulator's."),
) -> None:
    """Write a modality's client certificate and key, issued once by the stack CA, and the CA to trust.

    The same certificate works against every host of the stack and survives host replacement.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)
        doc = json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])
    except (BotoCoreError, ClientError, ValueError, KeyError) as exc:
        fail(f"cannot read the stack CA secret {secret_id}: {exc}")
    pair = doc.get("modalities", {}).get(aet)
    if pair is None:
        known = ", ".join(sorted(doc.get("modalities", {}))) or "none yet (no host has booted)"
        fail(f"no certificate for modality {aet!r} in {secret_id}; issued: {known}")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{aet}.crt").write_text(pair["cert"])
    (out / "ca.crt").write_text(doc["ca_cert"])
    key = out / f"{aet}.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(pair["key"])
    typer.echo(f"{out / f'{aet}.crt'}\n{key}\n{out / 'ca.crt'}")
