"""The stack's certificate authority: an empty Secrets Manager secret under the secrets key that the first host
fills (orthanc_config/stack_ca.py) and every later host reads. Hosts may read it and add versions, nothing else."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.policy_doc import Statement, statement


def stack_ca_secret(
    name: str, ctx: StackContext, secrets_key_arn: pulumi.Input[str], *, parent: pulumi.Resource
) -> aws.secretsmanager.Secret:
    return aws.secretsmanager.Secret(
        name,
        name_prefix=f"{ctx.prefix}/stack-ca-",
        description="PACSGuard stack CA: certificate, key and the modalities' client certificates",
        kms_key_id=secrets_key_arn,
        recovery_window_in_days=30,
        tags=ctx.tags("phi"),
        opts=ctx.opts(parent, phi=True),
    )


def host_statements(
    ctx: StackContext, secret_arn: pulumi.Input[str], secrets_key_arn: pulumi.Input[str]
) -> list[Statement]:
    return [
        statement(
            "StackCertificateAuthority",
            ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            [secret_arn],
        ),
        # Writing a version encrypts it under the secrets key, for this secret only.
        statement(
            "EncryptStackCertificateAuthority",
            ["kms:GenerateDataKey"],
            [secrets_key_arn],
            condition={
                "StringEquals": {
                    "kms:ViaService": ctx.service_host("secretsmanager"),
                    "kms:EncryptionContext:SecretARN": secret_arn,
                }
            },
        ),
    ]
