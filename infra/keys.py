"""One customer-managed KMS key per data class, each usable only through the service that needs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.context import DataClass, StackContext
from infra.policy_doc import Statement, document, statement

# Administration without use: the account can manage and schedule deletion, never decrypt through it.
ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:RotateKeyOnDemand",
]
USE_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]

# Which AWS services may use each key on the account's behalf (kms:ViaService).
KEY_SERVICES: dict[str, tuple[str, ...]] = {
    "images": ("elasticfilesystem", "s3", "ec2", "autoscaling"),
    "database": ("rds",),
    "logs": ("s3", "sns", "cloudtrail"),
    # rds: AWS Backup copies RDS snapshots to the off-site vault through RDS, which uses the key on its behalf.
    "backups": ("backup", "s3", "rds"),
    "secrets": ("secretsmanager", "rds"),
}
KEY_DATA_CLASS: dict[str, DataClass] = {
    "images": "phi",
    "database": "phi",
    "logs": "logs",
    "backups": "phi",
    "secrets": "phi",
}


@dataclass(frozen=True)
class KeysArgs:
    context: StackContext
    autoscaling_service_role: Literal["auto", "create", "existing"] = "auto"  # account.autoscaling_service_role
    deletion_window_days: int = 30
    data_classes: tuple[str, ...] = tuple(KEY_SERVICES)


class Keys(pulumi.ComponentResource):
    """Customer-managed keys: images, database, logs, backups, secrets."""

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:security:Keys", name, None, opts)
        ctx = args.context
        self.keys: dict[str, aws.kms.Key] = {}
        # Only the images key names the Auto Scaling service-linked role.
        self._asg_role_exists = "images" in args.data_classes and _autoscaling_role_exists(
            args.autoscaling_service_role
        )
        for data_class in args.data_classes:
            services = KEY_SERVICES[data_class]
            policy = document(*_key_policy(ctx, data_class, services))
            # A key policy naming a principal that does not exist yet fails CreateKey: the role comes first.
            roles = self._service_linked_roles(name, ctx) if data_class == "images" else []
            extra_tags = (
                {"pacsguard:service-linked-role": "existing"}
                if data_class == "images" and self._asg_role_exists
                else {}
            )
            key = aws.kms.Key(
                f"{name}-{data_class}",
                description=f"PACSGuard {ctx.stack}: {data_class}",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=args.deletion_window_days,
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                multi_region=False,
                policy=policy,
                tags=ctx.tags(
                    KEY_DATA_CLASS[data_class],
                    **{"pacsguard:key": data_class, "pacsguard:region": ctx.region, **extra_tags},
                ),
                opts=ctx.opts(self, phi=True, depends_on=roles),
            )
            aws.kms.Alias(
                f"{name}-{data_class}-alias",
                name=f"alias/{ctx.prefix}-{data_class}",
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=key),
            )
            self.keys[data_class] = key
        self.register_outputs({k: v.arn for k, v in self.keys.items()})

    def _service_linked_roles(self, name: str, ctx: StackContext) -> list[pulumi.Resource]:
        """The Auto Scaling service-linked role, unless the account has it (account.autoscaling_service_role)."""
        if self._asg_role_exists:
            return []
        role = aws.iam.ServiceLinkedRole(
            f"{name}-autoscaling-service-role",
            aws_service_name="autoscaling.amazonaws.com",
            description="Auto Scaling launches the PACS hosts' encrypted volumes",
            tags=ctx.tags("none"),
            # Shared by every Auto Scaling group of the account: never deleted with the stack.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        return [role]

    def arn(self, data_class: str) -> pulumi.Output[str]:
        return self.keys[data_class].arn


def _autoscaling_role_exists(mode: str) -> bool:
    """account.autoscaling_service_role; `auto` asks IAM, since creating a role the account has fails ("taken")."""
    if mode != "auto":
        return mode == "existing"
    found = aws.iam.get_roles(
        name_regex="^AWSServiceRoleForAutoScaling$", path_prefix="/aws-service-role/autoscaling.amazonaws.com/"
    )
    return bool(found.names)


def _key_policy(ctx: StackContext, data_class: str, services: tuple[str, ...]) -> list[Statement]:
    root = {"AWS": pulumi.Output.concat(f"arn:{ctx.partition}:iam::", ctx.account_id, ":root")}
    via = [ctx.service_host(s) for s in services]
    statements = [
        statement("KeyAdministration", ADMIN_ACTIONS, "*", principal=root),
        statement(
            "UseThroughStackServices",
            USE_ACTIONS,
            "*",
            principal=root,
            condition={"StringEquals": {"kms:ViaService": via, "kms:CallerAccount": ctx.account_id}},
        ),
        statement(
            "GrantsForAwsResourcesOnly",
            GRANT_ACTIONS,
            "*",
            principal=root,
            condition={
                "StringEquals": {"kms:ViaService": via, "kms:CallerAccount": ctx.account_id},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        ),
    ]
    if data_class == "images":
        # The Auto Scaling service-linked role launches the hosts' encrypted volumes: AWS requires it by name.
        asg_role = {
            "AWS": pulumi.Output.concat(
                f"arn:{ctx.partition}:iam::",
                ctx.account_id,
                ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
            )
        }
        statements.append(statement("AutoScalingVolumes", USE_ACTIONS, "*", principal=asg_role))
        statements.append(
            statement(
                "AutoScalingVolumeGrants",
                ["kms:CreateGrant"],
                "*",
                principal=asg_role,
                condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
    if data_class == "logs":
        trails = pulumi.Output.concat(f"arn:{ctx.partition}:cloudtrail:*:", ctx.account_id, ":trail/*")
        statements.append(
            statement(
                "CloudTrailEncryptsItsLogs",
                ["kms:GenerateDataKey*"],
                "*",
                principal={"Service": "cloudtrail.amazonaws.com"},
                condition={
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails},
                    "StringEquals": {"aws:SourceAccount": ctx.account_id},
                },
            )
        )
        statements.append(
            statement(
                "CloudTrailDescribesKey",
                ["kms:DescribeKey"],
                "*",
                principal={"Service": "cloudtrail.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            )
        )
        # CloudWatch alarms publish to the encrypted alarm topic.
        statements.append(
            statement(
                "CloudWatchAlarmsPublish",
                ["kms:Decrypt", "kms:GenerateDataKey*"],
                "*",
                principal={"Service": "cloudwatch.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            )
        )
        # CloudWatch Logs encrypts with the key itself (not via a caller), scoped to this account's groups.
        statements.append(
            statement(
                "CloudWatchLogsForThisAccount",
                ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                "*",
                principal={"Service": f"logs.{ctx.region}.amazonaws.com"},
                condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": ctx.arn("logs", "log-group:*")}},
            )
        )
    return statements
