"""Locked backups: an AWS Backup vault on the backups key, daily/weekly/monthly rules, an optional copy to a
second region, selection of the image store and index database by tag, and a restore testing plan."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.keys import Keys, KeysArgs
from infra.policy_doc import assume_role_policy
from stacks.settings import BackupSettings

BACKUP_POLICIES = ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores")
COMPLIANCE_GRACE_DAYS = 3  # after this the prod vault lock can no longer be removed, by anyone


@dataclass(frozen=True)
class BackupsArgs:
    context: StackContext
    backups_key_arn: pulumi.Input[str]
    protected_arns: list[pulumi.Input[str]]
    restore_tests: list[tuple[str, pulumi.Input[str]]]  # (resource type "EFS"/"RDS", ARN)
    backup: BackupSettings


class Backups(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:backup:Backups", name, None, opts)
        ctx, b = args.context, args.backup
        child = pulumi.ResourceOptions(parent=self)
        self.vault = self._locked_vault(name, ctx, b, args.backups_key_arn, self)

        copy_to: pulumi.Output[str] | None = None
        if b.copy_region:
            provider = aws.Provider(f"{name}-copy-region", region=b.copy_region, opts=child)
            remote_opts = pulumi.ResourceOptions(parent=self, provider=provider)
            remote = _in_region(ctx, b.copy_region)
            remote_keys = Keys(
                f"{name}-copy-keys", KeysArgs(context=remote, data_classes=("backups",)), opts=remote_opts
            )
            remote_vault = self._locked_vault(f"{name}-copy", remote, b, remote_keys.arn("backups"), self, provider)
            copy_to = remote_vault.arn

        def rule(rule_name: str, cron: str, days: int, continuous: bool = False) -> aws.backup.PlanRuleArgs:
            lifecycle = aws.backup.PlanRuleLifecycleArgs(delete_after=days)
            copies = (
                [aws.backup.PlanRuleCopyActionArgs(destination_vault_arn=copy_to, lifecycle=lifecycle)]
                if copy_to
                else None
            )
            return aws.backup.PlanRuleArgs(
                rule_name=rule_name,
                target_vault_name=self.vault.name,
                schedule=cron,
                start_window=60,
                completion_window=600,
                lifecycle=lifecycle,
                enable_continuous_backup=continuous,
                copy_actions=copies,
                recovery_point_tags=ctx.tags("phi"),
            )

        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=f"{ctx.prefix}-backups",
            rules=[
                # Continuous backup gives point-in-time restore of the index (AWS caps it at 35 days).
                rule("daily", "cron(0 3 * * ? *)", min(b.daily_retention_days, 35), continuous=True),
                rule("weekly", "cron(0 4 ? * SUN *)", b.weekly_retention_days),
                rule("monthly", "cron(0 5 1 * ? *)", b.monthly_retention_days),
            ],
            tags=ctx.tags("none"),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("backup.amazonaws.com", ctx.account_id),
            tags=ctx.tags("none"),
            opts=child,
        )
        for policy in BACKUP_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{policy}",
                role=role.name,
                policy_arn=f"arn:{ctx.partition}:iam::aws:policy/service-role/{policy}",
                opts=child,
            )
        aws.backup.Selection(
            f"{name}-phi",
            name=f"{ctx.prefix}-phi",
            plan_id=self.plan.id,
            iam_role_arn=role.arn,
            resources=args.protected_arns,
            conditions=[
                aws.backup.SelectionConditionArgs(
                    string_equals=[
                        aws.backup.SelectionConditionStringEqualArgs(
                            key="aws:ResourceTag/pacsguard:stack", value=ctx.stack
                        ),
                        aws.backup.SelectionConditionStringEqualArgs(
                            key="aws:ResourceTag/pacsguard:data-class", value="phi"
                        ),
                    ]
                )
            ],
            opts=child,
        )
        if b.restore_testing:
            self._restore_testing(name, ctx, role.arn, args.restore_tests)
        self.register_outputs({"vault": self.vault.arn})

    @staticmethod
    def _locked_vault(
        name: str,
        ctx: StackContext,
        b: BackupSettings,
        key_arn: pulumi.Input[str],
        parent: pulumi.Resource,
        provider: aws.Provider | None = None,
    ) -> aws.backup.Vault:
        vault = aws.backup.Vault(
            f"{name}-vault",
            name=f"{ctx.prefix}-{ctx.region}",
            kms_key_arn=key_arn,
            force_destroy=False,
            tags=ctx.tags("phi"),
            opts=pulumi.ResourceOptions.merge(ctx.opts(parent, phi=True), pulumi.ResourceOptions(provider=provider)),
        )
        aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock",
            backup_vault_name=vault.name,
            min_retention_days=min(b.daily_retention_days, 35),
            max_retention_days=b.monthly_retention_days,
            # Compliance mode (immutable after the grace days) in prod; governance in dev so it can be torn down.
            changeable_for_days=COMPLIANCE_GRACE_DAYS if ctx.is_prod else None,
            opts=pulumi.ResourceOptions(parent=vault, provider=provider),
        )
        return vault

    def _restore_testing(
        self, name: str, ctx: StackContext, role_arn: pulumi.Input[str], targets: list[tuple[str, pulumi.Input[str]]]
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        plan = aws.backup.RestoreTestingPlan(
            f"{name}-restore-test",
            name=f"{ctx.prefix.replace('-', '_')}_restore_test",
            schedule_expression="cron(0 6 ? * SAT *)",
            start_window_hours=24,
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=7,
            ),
            tags=ctx.tags("none"),
            opts=child,
        )
        for kind, arn in targets:
            aws.backup.RestoreTestingSelection(
                f"{name}-restore-test-{kind.lower()}",
                name=f"{kind.lower()}_restore_test",
                restore_testing_plan_name=plan.name,
                protected_resource_type=kind,
                protected_resource_arns=[arn],
                iam_role_arn=role_arn,
                validation_window_hours=24,
                opts=child,
            )


def _in_region(ctx: StackContext, region: str) -> StackContext:
    from dataclasses import replace

    return replace(ctx, region=region)
