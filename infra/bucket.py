"""An S3 bucket with every guard on: KMS, no public access, owner-enforced, versioned, TLS-only, logged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.context import DataClass, StackContext
from infra.policy_doc import Statement, deny_insecure_transport, document, statement


@dataclass(frozen=True)
class SecureBucketArgs:
    context: StackContext
    data_class: DataClass
    kms_key_arn: pulumi.Input[str] | None
    """None only for log-delivery targets that AWS requires on SSE-S3 (S3 server access logs, ALB logs)."""
    access_log_prefix: str = ""
    object_lock_days: int | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    # Retention by lifecycle for a bucket that cannot carry object lock (a log delivery destination).
    expire_after_days: int | None = None
    archive_transition_days: int | None = None
    noncurrent_expiration_days: int = 365
    receives_server_access_logs: bool = False
    # Marks the one bucket AWS log delivery requires on SSE-S3: an explicit, visible exception.
    log_sink: str | None = None
    # Statements that name the bucket itself (log delivery by AWS services): built once its ARN exists.
    extra_policy_statements: Callable[[pulumi.Output[str]], list[Statement]] | None = None
    protect: bool = True


class SecureBucket(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: SecureBucketArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        log_destination: SecureBucket | None = None,
    ) -> None:
        """`log_destination`: the bucket receiving this one's server access logs (AWS checks its policy first)."""
        super().__init__("pacsguard:storage:SecureBucket", name, None, opts)
        ctx = args.context
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name,
            bucket_prefix=f"{ctx.prefix}-{name.split('-')[-1]}-",
            object_lock_enabled=args.object_lock_days is not None,
            force_destroy=False,
            tags=ctx.tags(args.data_class, **({"pacsguard:log-sink": args.log_sink} if args.log_sink else {})),
            opts=ctx.opts(self, phi=args.protect),
        )
        b = self.bucket.id
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=b,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-block",
            bucket=b,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        if args.kms_key_arn is not None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
            )
        else:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=b,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=args.kms_key_arn is not None,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=b,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        if args.object_lock_days is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=b,
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=args.object_lock_mode, days=args.object_lock_days
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        objects = pulumi.Output.concat(self.bucket.arn, "/*")
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=b,
            policy=document(
                deny_insecure_transport("DenyInsecureTransport", [self.bucket.arn, objects], ["s3:*"]),
                {
                    "Sid": "DenyOutdatedTls",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": ["s3:*"],
                    "Resource": [self.bucket.arn, objects],
                    "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                },
                *([_log_delivery(ctx, objects)] if args.receives_server_access_logs else []),
                *(args.extra_policy_statements(self.bucket.arn) if args.extra_policy_statements else []),
            ),
            # The public access block must exist first, or a policy with a service principal races it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]),
        )
        if log_destination is not None:
            # PutBucketLogging checks that the destination's policy admits logging.s3.amazonaws.com.
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=b,
                target_bucket=log_destination.bucket.id,
                target_prefix=args.access_log_prefix or f"s3/{name}/",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[log_destination.policy]),
            )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            ),
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-old-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.noncurrent_expiration_days
                ),
            ),
        ]
        if args.expire_after_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expire_after_days),
                )
            )
        if args.archive_transition_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="archive-tier",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=args.archive_transition_days, storage_class="GLACIER_IR"
                        )
                    ],
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=b,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        self.register_outputs({"bucket": self.bucket.id, "arn": self.bucket.arn})


def _log_delivery(ctx: StackContext, objects: pulumi.Input[str]) -> Statement:
    """S3 server access log delivery, for this account's buckets only."""
    return statement(
        "S3ServerAccessLogDelivery",
        ["s3:PutObject"],
        [objects],
        principal={"Service": "logging.s3.amazonaws.com"},
        condition={"StringEquals": {"aws:SourceAccount": ctx.account_id}},
    )
