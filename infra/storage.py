"""Where PHI and its logs live: the image store (EFS shared by all hosts, or EBS on one) and the buckets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.bucket import SecureBucket, SecureBucketArgs
from infra.context import StackContext
from infra.log_delivery import alb_log_delivery, config_delivery, trail_delivery
from infra.policy_doc import Statement, deny_insecure_transport, document
from infra.trail_name import trail_arn
from stacks.settings import StorageSettings

ORTHANC_UID = 64042  # fixed so the EFS access point and the host's orthanc user agree
ORTHANC_STORAGE_PATH = "/orthanc-storage"


@dataclass(frozen=True)
class StorageArgs:
    context: StackContext
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    hosts_security_group_id: pulumi.Input[str]
    images_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    storage: StorageSettings


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:storage:Storage", name, None, opts)
        ctx, s = args.context, args.storage

        # AWS delivers S3 server access logs (and ALB logs) only to SSE-S3 buckets, and refuses a server access
        # log destination with object lock: this one is the terminal log sink, versioned and TLS-only, its
        # retention kept by lifecycle instead of a lock. It holds request metadata, not images.
        self.access_logs = SecureBucket(
            f"{name}-accesslogs",
            _unlocked_log_bucket(
                ctx,
                "s3-server-access-and-alb-logs",
                None,
                lambda arn: alb_log_delivery(ctx, arn),
                receives_server_access_logs=True,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.logs = SecureBucket(
            f"{name}-logs",
            SecureBucketArgs(
                context=ctx,
                data_class="logs",
                kms_key_arn=args.logs_key_arn,
                object_lock_days=s.object_lock_days,
                object_lock_mode="COMPLIANCE" if ctx.is_prod else "GOVERNANCE",
                extra_policy_statements=lambda arn: trail_delivery(ctx, arn, trail_arn(ctx)),
            ),
            opts=pulumi.ResourceOptions(parent=self),
            log_destination=self.access_logs,
        )
        # AWS Config refuses a delivery channel to a bucket with object lock: its history gets a bucket of its own,
        # on the logs key, versioned and TLS-only, kept by lifecycle for the audit-log retention.
        self.config_delivery = SecureBucket(
            f"{name}-config",
            _unlocked_log_bucket(ctx, "aws-config-delivery", args.logs_key_arn, lambda arn: config_delivery(ctx, arn)),
            opts=pulumi.ResourceOptions(parent=self),
            log_destination=self.access_logs,
        )
        self.archive = SecureBucket(
            f"{name}-archive",
            SecureBucketArgs(
                context=ctx,
                data_class="phi",
                kms_key_arn=args.images_key_arn,
                archive_transition_days=s.archive_transition_days,
                **_archive_lock(s.archive_object_lock, s.object_lock_days),
            ),
            opts=pulumi.ResourceOptions(parent=self),
            log_destination=self.access_logs,
        )

        self.file_system: aws.efs.FileSystem | None = None
        self.access_point: aws.efs.AccessPoint | None = None
        self.efs_security_group: aws.ec2.SecurityGroup | None = None
        if s.mode == "efs":
            self._efs(name, args)
        self.register_outputs({"archive_bucket": self.archive.bucket.id, "logs_bucket": self.logs.bucket.id})

    def _efs(self, name: str, args: StorageArgs) -> None:
        ctx = args.context
        child = pulumi.ResourceOptions(parent=self)
        fs = aws.efs.FileSystem(
            f"{name}-images",
            encrypted=True,
            kms_key_id=args.images_key_arn,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            lifecycle_policies=[aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia="AFTER_30_DAYS")],
            protection=aws.efs.FileSystemProtectionArgs(replication_overwrite="DISABLED"),
            tags={**ctx.tags("phi"), "Name": f"{ctx.prefix}-images"},
            opts=ctx.opts(self, phi=True),
        )
        self.file_system = fs
        self.access_point = aws.efs.AccessPoint(
            f"{name}-images-ap",
            file_system_id=fs.id,
            posix_user=aws.efs.AccessPointPosixUserArgs(uid=ORTHANC_UID, gid=ORTHANC_UID),
            root_directory=aws.efs.AccessPointRootDirectoryArgs(
                path=ORTHANC_STORAGE_PATH,
                creation_info=aws.efs.AccessPointRootDirectoryCreationInfoArgs(
                    owner_uid=ORTHANC_UID, owner_gid=ORTHANC_UID, permissions="0750"
                ),
            ),
            tags=ctx.tags("phi"),
            opts=child,
        )
        aws.efs.FileSystemPolicy(
            f"{name}-images-policy",
            file_system_id=fs.id,
            bypass_policy_lockout_safety_check=False,
            policy=document(
                deny_insecure_transport("DenyWithoutTls", [fs.arn], ["elasticfilesystem:*"]),
                {
                    "Sid": "DenyOutsideAccessPoint",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                    "Resource": [fs.arn],
                    "Condition": {"StringNotEquals": {"elasticfilesystem:AccessPointArn": self.access_point.arn}},
                },
            ),
            opts=child,
        )
        self.efs_security_group = aws.ec2.SecurityGroup(
            f"{name}-efs-sg",
            vpc_id=args.vpc_id,
            description="Image store NFS: from the PACS hosts only",
            tags=ctx.tags("phi"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-efs-from-hosts",
            security_group_id=self.efs_security_group.id,
            ip_protocol="tcp",
            from_port=2049,
            to_port=2049,
            referenced_security_group_id=args.hosts_security_group_id,
            description="NFS over TLS from the PACS hosts",
            tags=ctx.tags("none"),
            opts=child,
        )
        for i, subnet_id in enumerate(args.private_subnet_ids):
            aws.efs.MountTarget(
                f"{name}-images-mount-{i}",
                file_system_id=fs.id,
                subnet_id=subnet_id,
                security_groups=[self.efs_security_group.id],
                opts=child,
            )


def _unlocked_log_bucket(
    ctx: StackContext,
    sink: str,
    kms_key_arn: pulumi.Input[str] | None,
    statements: Callable[[pulumi.Output[str]], list[Statement]],
    *,
    receives_server_access_logs: bool = False,
) -> SecureBucketArgs:
    """A log delivery destination AWS refuses to see locked: tagged as such, retention kept by lifecycle."""
    days = ctx.log_retention_days
    return SecureBucketArgs(
        context=ctx,
        data_class="logs",
        kms_key_arn=kms_key_arn,
        expire_after_days=days,
        noncurrent_expiration_days=days,
        receives_server_access_logs=receives_server_access_logs,
        log_sink=sink,
        extra_policy_statements=statements,
    )


def _archive_lock(mode: str, days: int) -> dict[str, object]:
    """Object lock of the PHI archive (storage.archive_object_lock; see the settings for the erasure trade-off)."""
    if mode == "none":
        return {}
    return {"object_lock_days": days, "object_lock_mode": mode.upper()}
