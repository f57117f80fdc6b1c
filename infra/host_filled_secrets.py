"""Secrets the hosts fill themselves: empty Secrets Manager secrets under the secrets key, written once by the
first host and read by every later one (the stack CA, the database application role's password).
Hosts may read them and add versions; on the application secret they also move its staging labels (the rotation
stages a password as AWSPENDING and makes it AWSCURRENT once the role has it), nothing else."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.policy_doc import Statement, statement

HOST_FILLED = {
    "stack-ca": "PACSGuard stack CA: certificate, key and the modalities' client certificates",
    "db-app": "PACSGuard: the database application role's password (Orthanc connects as this role)",
}


def host_filled_secrets(
    name: str, ctx: StackContext, secrets_key_arn: pulumi.Input[str], *, parent: pulumi.Resource
) -> dict[str, aws.secretsmanager.Secret]:
    return {
        kind: aws.secretsmanager.Secret(
            f"{name}-{kind}",
            name_prefix=f"{ctx.prefix}/{kind}-",
            description=description,
            kms_key_id=secrets_key_arn,
            recovery_window_in_days=30,
            tags=ctx.tags("phi"),
            opts=ctx.opts(parent, phi=True),
        )
        for kind, description in HOST_FILLED.items()
    }


def host_statements(
    ctx: StackContext, secrets: dict[str, aws.secretsmanager.Secret], secrets_key_arn: pulumi.Input[str]
) -> list[Statement]:
    return [
        statement(
            "HostFilledSecrets",
            ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            [s.arn for s in secrets.values()],
        ),
        # Only the application secret rotates (orthanc_config/db_app_user.py); the stack CA's labels never move.
        statement("RotateDatabaseAppSecret", ["secretsmanager:UpdateSecretVersionStage"], [secrets["db-app"].arn]),
        # Writing a version encrypts it under the secrets key, through Secrets Manager only.
        statement(
            "EncryptHostFilledSecrets",
            ["kms:GenerateDataKey"],
            [secrets_key_arn],
            condition={"StringEquals": {"kms:ViaService": ctx.service_host("secretsmanager")}},
        ),
    ]
