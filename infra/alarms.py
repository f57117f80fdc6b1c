"""Metric filters and alarms on the trail and the PACS audit log, sent to an encrypted SNS topic.

The trail filters follow the CIS AWS Foundations Benchmark monitoring controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.policy_doc import document, statement
from stacks.settings import DetectionSettings

TRAIL_FILTERS = {
    "UnauthorizedApiCalls": '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }',
    "RootAccountUse": (
        '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }'
    ),
    "ConsoleLoginWithoutMfa": (
        '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
        '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }'
    ),
    "IamPolicyChanges": (
        "{ ($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || "
        "($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || "
        "($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || "
        "($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || "
        "($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || "
        "($.eventName=DetachGroupPolicy) }"
    ),
    "KmsKeyDisableOrDeletion": (
        "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }"
    ),
    "SecurityGroupChanges": (
        "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || "
        "($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || "
        "($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) || "
        "($.eventName = ModifySecurityGroupRules) }"
    ),
    "NaclChanges": (
        "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || "
        "($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || "
        "($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }"
    ),
    "NetworkGatewayChanges": (
        "{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || "
        "($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || "
        "($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }"
    ),
    "RouteTableChanges": (
        "{ ($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || "
        "($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || "
        "($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }"
    ),
    "VpcChanges": (
        "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || "
        "($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || "
        "($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || "
        "($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || "
        "($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }"
    ),
    # Break-glass: unsealing the emergency credential pages someone (infra/identity.py's break-glass secret).
    # Opening or closing a window is tagging that secret: alarmed the same way.
    "BreakGlassCredentialRead": (
        "{ (($.eventName = GetSecretValue) || ($.eventName = TagResource) || ($.eventName = UntagResource)) && "
        '($.requestParameters.secretId = "*break-glass*") }'
    ),
}
# The host plugin's ATNA lines: 110114 user authentication, 110113 security alert (refused everywhere).
AUDIT_FILTERS = {
    "PacsAuthenticationFailures": '{ ($.event_id = "110114") && ($.outcome != "0") }',
    "PacsSecurityAlerts": '{ $.event_id = "110113" }',
    # Every request made under emergency access (the plugin marks those audit lines), not just the first.
    "EmergencyAccessUsed": "{ $.emergency IS TRUE }",
}


@dataclass(frozen=True)
class AlarmsArgs:
    context: StackContext
    trail_log_group: pulumi.Input[str]
    audit_log_group: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    detection: DetectionSettings


class Alarms(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:audit:Alarms", name, None, opts)
        ctx, det = args.context, args.detection
        child = pulumi.ResourceOptions(parent=self)
        namespace = f"PACSGuard/{ctx.stack}"
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{ctx.prefix}-alarms",
            kms_master_key_id=args.logs_key_arn,
            tags=ctx.tags("logs"),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=document(
                statement(
                    "CloudWatchAlarmsOfThisAccount",
                    ["sns:Publish"],
                    [self.topic.arn],
                    principal={"Service": "cloudwatch.amazonaws.com"},
                    condition={"StringEquals": {"aws:SourceAccount": ctx.account_id}},
                ),
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "sns:Publish",
                    "Resource": self.topic.arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ),
            opts=child,
        )
        for i, email in enumerate(det.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child
            )

        filters = [(k, v, args.trail_log_group, 1) for k, v in TRAIL_FILTERS.items()]
        filters += [
            (k, v, args.audit_log_group, det.auth_failure_threshold if "Authentication" in k else 1)
            for k, v in AUDIT_FILTERS.items()
        ]
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for metric, pattern, group, threshold in filters:
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{metric}",
                name=metric,
                log_group_name=group,
                pattern=pattern,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=metric, namespace=namespace, value="1", default_value="0"
                ),
                opts=child,
            )
            self.alarms[metric] = aws.cloudwatch.MetricAlarm(
                f"{name}-{metric}-alarm",
                name=f"{ctx.prefix}-{metric}",
                namespace=namespace,
                metric_name=metric,
                statistic="Sum",
                period=300,
                evaluation_periods=1,
                threshold=threshold,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                tags=ctx.tags("none"),
                opts=child,
            )
        self.register_outputs({"topic": self.topic.arn})
