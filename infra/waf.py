"""WAFv2 in front of the web entry: AWS managed rules, a per-IP rate limit, and room for DICOMweb uploads.

The common rule set blocks bodies over 8 KB, which would block every STOW-RS upload. Its size rule is
set to count instead, and a later rule blocks what it labelled unless the request is a STOW-RS POST.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.log_group import encrypted_log_group

W = aws.wafv2
MANAGED_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
BODY_SIZE_RULE = "SizeRestrictions_BODY"
BODY_SIZE_LABEL = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"


@dataclass(frozen=True)
class WafArgs:
    context: StackContext
    load_balancer_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]


def _visibility(metric: str) -> W.WebAclRuleVisibilityConfigArgs:
    return W.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed(priority: int, group: str) -> W.WebAclRuleArgs:
    overrides = None
    if group == "AWSManagedRulesCommonRuleSet":
        overrides = [
            W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                name=BODY_SIZE_RULE,
                action_to_use=W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(count={}),
            )
        ]
    return W.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=W.WebAclRuleOverrideActionArgs(none={}),
        statement=W.WebAclRuleStatementArgs(
            managed_rule_group_statement=W.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS", name=group, rule_action_overrides=overrides
            )
        ),
        visibility_config=_visibility(group),
    )


def _oversized_body_except_stow(priority: int, stow_prefix: str) -> W.WebAclRuleArgs:
    is_stow = W.WebAclRuleStatementArgs(
        and_statement=W.WebAclRuleStatementAndStatementArgs(
            statements=[
                W.WebAclRuleStatementArgs(
                    byte_match_statement=W.WebAclRuleStatementByteMatchStatementArgs(
                        positional_constraint="STARTS_WITH",
                        search_string=stow_prefix,
                        field_to_match=W.WebAclRuleStatementByteMatchStatementFieldToMatchArgs(uri_path={}),
                        text_transformations=[
                            W.WebAclRuleStatementByteMatchStatementTextTransformationArgs(priority=0, type="NONE")
                        ],
                    )
                ),
                W.WebAclRuleStatementArgs(
                    byte_match_statement=W.WebAclRuleStatementByteMatchStatementArgs(
                        positional_constraint="EXACTLY",
                        search_string="POST",
                        field_to_match=W.WebAclRuleStatementByteMatchStatementFieldToMatchArgs(method={}),
                        text_transformations=[
                            W.WebAclRuleStatementByteMatchStatementTextTransformationArgs(priority=0, type="NONE")
                        ],
                    )
                ),
            ]
        )
    )
    return W.WebAclRuleArgs(
        name="OversizedBodyExceptStow",
        priority=priority,
        action=W.WebAclRuleActionArgs(block={}),
        statement=W.WebAclRuleStatementArgs(
            and_statement=W.WebAclRuleStatementAndStatementArgs(
                statements=[
                    W.WebAclRuleStatementArgs(
                        label_match_statement=W.WebAclRuleStatementLabelMatchStatementArgs(
                            scope="LABEL", key=BODY_SIZE_LABEL
                        )
                    ),
                    W.WebAclRuleStatementArgs(not_statement=W.WebAclRuleStatementNotStatementArgs(statement=is_stow)),
                ]
            )
        ),
        visibility_config=_visibility("OversizedBodyExceptStow"),
    )


class Waf(pulumi.ComponentResource):
    def __init__(self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:edge:Waf", name, None, opts)
        ctx, waf = args.context, args.context.settings.waf
        child = pulumi.ResourceOptions(parent=self)
        rules = [
            W.WebAclRuleArgs(
                name="RatePerClientIp",
                priority=0,
                action=W.WebAclRuleActionArgs(block={}),
                statement=W.WebAclRuleStatementArgs(
                    rate_based_statement=W.WebAclRuleStatementRateBasedStatementArgs(
                        aggregate_key_type="IP", limit=waf.rate_limit, evaluation_window_sec=300
                    )
                ),
                visibility_config=_visibility("RatePerClientIp"),
            ),
            *(_managed(i + 1, g) for i, g in enumerate(MANAGED_GROUPS)),
            _oversized_body_except_stow(len(MANAGED_GROUPS) + 1, waf.stow_path_prefix),
        ]
        self.acl = W.WebAcl(
            f"{name}-acl",
            name=f"{ctx.prefix}-web",
            scope="REGIONAL",
            default_action=W.WebAclDefaultActionArgs(allow={}),
            rules=rules,
            visibility_config=W.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=f"{ctx.prefix}-web", sampled_requests_enabled=True
            ),
            tags=ctx.tags("none"),
            opts=child,
        )
        W.WebAclAssociation(f"{name}-alb", resource_arn=args.load_balancer_arn, web_acl_arn=self.acl.arn, opts=child)
        # WAF insists on the aws-waf-logs- prefix for its log groups.
        self.log_group = encrypted_log_group(
            f"{name}-logs", ctx, f"aws-waf-logs-pacsguard-{ctx.stack}", args.logs_key_arn, parent=self
        )
        W.WebAclLoggingConfiguration(
            f"{name}-logging",
            resource_arn=self.acl.arn,
            log_destination_configs=[self.log_group.arn],
            # Credentials and session cookies never reach the WAF logs.
            redacted_fields=[
                W.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=W.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(name="authorization")
                ),
                W.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=W.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(name="cookie")
                ),
                W.WebAclLoggingConfigurationRedactedFieldArgs(query_string={}),
            ],
            opts=child,
        )
        self.register_outputs({"web_acl": self.acl.arn})
