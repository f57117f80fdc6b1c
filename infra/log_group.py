"""Every log group of the stack: encrypted with the logs key, retained as the settings say."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.context import StackContext


def encrypted_log_group(
    resource_name: str,
    ctx: StackContext,
    log_group_name: pulumi.Input[str],
    logs_key_arn: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
) -> aws.cloudwatch.LogGroup:
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=log_group_name,
        kms_key_id=logs_key_arn,
        retention_in_days=ctx.log_retention_days,
        tags=ctx.tags("logs"),
        opts=ctx.opts(parent, phi=True),
    )
