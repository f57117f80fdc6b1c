"""Bucket policy statements for AWS services that deliver logs into the stack's buckets.

Every statement is scoped to this account (and, where AWS supports it, to the exact source ARN).
"""

from __future__ import annotations

import pulumi

from infra.context import StackContext
from infra.policy_doc import Statement, statement

# Regions opened before August 2022 deliver ALB logs from a per-region ELB account, later ones from a
# service principal (AWS documentation, "Enable access logs for your Application Load Balancer").
ELB_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-west-3": "009996457667",
    "eu-north-1": "897822967062", "eu-south-1": "635631232127", "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-south-1": "718504428378", "sa-east-1": "507241528517",
}  # fmt: skip


def alb_log_delivery(ctx: StackContext, bucket_arn: pulumi.Output[str], prefix: str = "alb") -> list[Statement]:
    objects = pulumi.Output.concat(bucket_arn, f"/{prefix}/AWSLogs/", ctx.account_id, "/*")
    account = ELB_ACCOUNTS.get(ctx.region)
    principal = (
        {"AWS": f"arn:{ctx.partition}:iam::{account}:root"}
        if account
        else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    )
    return [statement("AlbAccessLogDelivery", ["s3:PutObject"], [objects], principal=principal)]


def trail_delivery(ctx: StackContext, bucket_arn: pulumi.Output[str], trail_arn: pulumi.Input[str]) -> list[Statement]:
    own_logs = pulumi.Output.concat(bucket_arn, "/AWSLogs/", ctx.account_id, "/*")
    return [
        statement(
            "CloudTrailAclCheck",
            ["s3:GetBucketAcl"],
            [bucket_arn],
            principal={"Service": "cloudtrail.amazonaws.com"},
            condition={"StringEquals": {"aws:SourceArn": trail_arn}},
        ),
        statement(
            "CloudTrailWrite",
            ["s3:PutObject"],
            [own_logs],
            principal={"Service": "cloudtrail.amazonaws.com"},
            condition={"StringEquals": {"aws:SourceArn": trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}},
        ),
    ]


def config_delivery(ctx: StackContext, bucket_arn: pulumi.Output[str]) -> list[Statement]:
    """AWS Config's snapshots and history: to a bucket of their own, because Config refuses an object-lock bucket."""
    own_logs = pulumi.Output.concat(bucket_arn, "/AWSLogs/", ctx.account_id, "/Config/*")
    return [
        statement(
            "ConfigAclCheck",
            ["s3:GetBucketAcl", "s3:ListBucket"],
            [bucket_arn],
            principal={"Service": "config.amazonaws.com"},
            condition={"StringEquals": {"aws:SourceAccount": ctx.account_id}},
        ),
        statement(
            "ConfigWrite",
            ["s3:PutObject"],
            [own_logs],
            principal={"Service": "config.amazonaws.com"},
            condition={
                "StringEquals": {"aws:SourceAccount": ctx.account_id, "s3:x-amz-acl": "bucket-owner-full-control"}
            },
        ),
    ]
