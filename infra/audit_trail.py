"""CloudTrail: every region, validated log files, KMS, delivered to the logs bucket and CloudWatch Logs,
with S3 data events on the PHI-bearing buckets."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.log_group import encrypted_log_group
from infra.policy_doc import assume_role_policy, document, statement
from infra.trail_name import trail_name


@dataclass(frozen=True)
class AuditTrailArgs:
    context: StackContext
    logs_bucket: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    phi_bucket_arns: list[pulumi.Input[str]]
    logs_bucket_policy: pulumi.Resource  # CreateTrail checks the bucket policy admits CloudTrail


class AuditTrail(pulumi.ComponentResource):
    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:audit:AuditTrail", name, None, opts)
        ctx = args.context
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = encrypted_log_group(
            f"{name}-logs", ctx, f"/pacsguard/{ctx.stack}/cloudtrail", args.logs_key_arn, parent=self
        )
        role = aws.iam.Role(
            f"{name}-to-logs",
            assume_role_policy=assume_role_policy("cloudtrail.amazonaws.com", ctx.account_id),
            tags=ctx.tags("none"),
            opts=child,
        )
        write = aws.iam.RolePolicy(
            f"{name}-to-logs-write",
            role=role.id,
            policy=document(
                statement(
                    "DeliverTrailToLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [pulumi.Output.concat(self.log_group.arn, ":log-stream:*")],
                )
            ),
            opts=child,
        )
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name(ctx),
            s3_bucket_name=args.logs_bucket,
            kms_key_id=args.logs_key_arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            cloud_watch_logs_group_arn=pulumi.Output.concat(self.log_group.arn, ":*"),
            cloud_watch_logs_role_arn=role.arn,
            advanced_event_selectors=[
                aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                    name="Management events",
                    field_selectors=[
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=["Management"]
                        )
                    ],
                ),
                aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                    name="Data events on PHI buckets",
                    field_selectors=[
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=["Data"]
                        ),
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="resources.type", equals=["AWS::S3::Object"]
                        ),
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="resources.ARN",
                            starts_withs=[pulumi.Output.concat(arn, "/") for arn in args.phi_bucket_arns],
                        ),
                    ],
                ),
            ],
            tags=ctx.tags("logs"),
            # CreateTrail validates the bucket policy and the role's right to write the log group at once.
            opts=ctx.opts(self, phi=True, depends_on=[write, args.logs_bucket_policy]),
        )
        self.register_outputs({"trail": self.trail.arn})
