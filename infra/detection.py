"""Threat detection and continuous compliance: GuardDuty, AWS Config with rules mirroring the controls,
and (when the settings ask) Security Hub."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.policy_doc import assume_role_policy, document, statement
from stacks.settings import AccountSettings, DetectionSettings

GUARDDUTY_FEATURES = ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS")
# AWS Config managed rules that mirror PACSGuard controls (the catalog names them as equivalents).
CONFIG_RULES = (
    "S3_BUCKET_SSL_REQUESTS_ONLY", "S3_BUCKET_PUBLIC_READ_PROHIBITED", "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
    "S3_DEFAULT_ENCRYPTION_KMS", "S3_BUCKET_VERSIONING_ENABLED", "S3_BUCKET_LOGGING_ENABLED",
    "RDS_STORAGE_ENCRYPTED", "RDS_INSTANCE_PUBLIC_ACCESS_CHECK", "RDS_MULTI_AZ_SUPPORT", "DB_INSTANCE_BACKUP_ENABLED",
    "RDS_INSTANCE_DELETION_PROTECTION_ENABLED", "EFS_ENCRYPTED_CHECK", "ENCRYPTED_VOLUMES",
    "EC2_EBS_ENCRYPTION_BY_DEFAULT",
    "EC2_IMDSV2_CHECK", "EC2_INSTANCE_NO_PUBLIC_IP", "VPC_FLOW_LOGS_ENABLED", "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
    "INCOMING_SSH_DISABLED", "CLOUD_TRAIL_ENABLED", "MULTI_REGION_CLOUD_TRAIL_ENABLED",
    "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED", "CLOUD_TRAIL_ENCRYPTION_ENABLED", "CMK_BACKING_KEY_ROTATION_ENABLED",
    "CLOUDWATCH_LOG_GROUP_ENCRYPTED", "GUARDDUTY_ENABLED_CENTRALIZED", "ALB_WAF_ENABLED",
    "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK", "ALB_HTTP_DROP_INVALID_HEADER_ENABLED", "ELBV2_ACM_CERTIFICATE_REQUIRED",
    "ELB_DELETION_PROTECTION_ENABLED", "IAM_ROOT_ACCESS_KEY_CHECK", "ROOT_ACCOUNT_MFA_ENABLED",
    "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
    "BACKUP_RECOVERY_POINT_ENCRYPTED", "SECRETSMANAGER_USING_CMK",
)  # fmt: skip


@dataclass(frozen=True)
class DetectionArgs:
    context: StackContext
    config_bucket: pulumi.Input[str]  # without object lock: Config refuses a locked destination
    config_bucket_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    config_bucket_policy: pulumi.Resource  # admits Config's delivery: PutDeliveryChannel checks it
    detection: DetectionSettings
    account: AccountSettings  # which account services the stack creates, finds existing, or leaves off


class Detection(pulumi.ComponentResource):
    def __init__(self, name: str, args: DetectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:audit:Detection", name, None, opts)
        ctx, det = args.context, args.detection
        child = pulumi.ResourceOptions(parent=self)
        acct = args.account
        # `existing`: the organisation's detector/recorder/hub runs already; a second create fails.
        if acct.guardduty == "create":
            self._guardduty(name, ctx)
        recording = self._config(name, ctx, args) if acct.config == "create" else None
        if det.config_rules and acct.config != "off":
            # Rules also run on an organisation's recorder (account.config: existing).
            for rule in CONFIG_RULES:
                aws.cfg.Rule(
                    f"{name}-rule-{rule.lower().replace('_', '-')}",
                    name=f"{ctx.prefix}-{rule.lower().replace('_', '-')}"[:128],
                    source=aws.cfg.RuleSourceArgs(owner="AWS", source_identifier=rule),
                    tags=ctx.tags("none"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[recording] if recording else None),
                )
        if acct.security_hub == "create":
            hub = aws.securityhub.Account(
                f"{name}-securityhub", enable_default_standards=False, auto_enable_controls=True, opts=child
            )
            aws.securityhub.StandardsSubscription(
                f"{name}-securityhub-fsbp",
                standards_arn=f"arn:{ctx.partition}:securityhub:{ctx.region}::standards/aws-foundational-security-best-practices/v/1.0.0",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[hub]),
            )
        self.register_outputs({})

    def _guardduty(self, name: str, ctx: StackContext) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.detector = aws.guardduty.Detector(
            f"{name}-guardduty",
            enable=True,
            finding_publishing_frequency="FIFTEEN_MINUTES",
            tags=ctx.tags("none"),
            opts=child,
        )
        for feature in GUARDDUTY_FEATURES:
            aws.guardduty.DetectorFeature(
                f"{name}-guardduty-{feature.lower()}",
                detector_id=self.detector.id,
                name=feature,
                status="ENABLED",
                opts=child,
            )

    def _config(self, name: str, ctx: StackContext, args: DetectionArgs) -> pulumi.Resource:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-config-role",
            assume_role_policy=assume_role_policy("config.amazonaws.com", ctx.account_id),
            tags=ctx.tags("none"),
            opts=child,
        )
        managed = aws.iam.RolePolicyAttachment(
            f"{name}-config-managed",
            role=role.name,
            policy_arn=f"arn:{ctx.partition}:iam::aws:policy/service-role/AWS_ConfigRole",
            opts=child,
        )
        delivery_policy = aws.iam.RolePolicy(
            f"{name}-config-delivery",
            role=role.id,
            policy=document(
                statement(
                    "DeliverToConfigBucket",
                    ["s3:PutObject"],
                    [pulumi.Output.concat(args.config_bucket_arn, "/AWSLogs/", ctx.account_id, "/Config/*")],
                ),
                statement("CheckConfigBucketAcl", ["s3:GetBucketAcl"], [args.config_bucket_arn]),
                statement(
                    "EncryptWithLogsKey",
                    ["kms:Decrypt", "kms:GenerateDataKey"],
                    [args.logs_key_arn],
                    condition={"StringEquals": {"kms:ViaService": ctx.service_host("s3")}},
                ),
            ),
            opts=child,
        )
        self.recorder = aws.cfg.Recorder(
            f"{name}-config-recorder",
            name=f"{ctx.prefix}-recorder",
            role_arn=role.arn,
            recording_group=aws.cfg.RecorderRecordingGroupArgs(all_supported=True, include_global_resource_types=True),
            opts=child,
        )
        channel = aws.cfg.DeliveryChannel(
            f"{name}-config-delivery-channel",
            name=f"{ctx.prefix}-delivery",
            s3_bucket_name=args.config_bucket,
            s3_kms_key_arn=args.logs_key_arn,
            # PutDeliveryChannel checks the bucket and the role's rights at once: both policies come first.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.recorder, managed, delivery_policy, args.config_bucket_policy]
            ),
        )
        status = aws.cfg.RecorderStatus(
            f"{name}-config-recording",
            name=self.recorder.name,
            is_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[channel]),
        )
        return status
