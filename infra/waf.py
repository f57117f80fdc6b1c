"""WAFv2 in front of the web entry: AWS managed rules, a per-IP rate limit, and room for DICOMweb uploads.

A STOW-RS upload is binary DICOM: every rule that inspects the body (size, XSS, LFI/RFI, SSRF, SQLi, Java
deserialisation, Log4J) can match pixel data and block a study. Those body rules are set to count, and a
later rule blocks whatever they labelled unless the request is a STOW-RS POST of multipart/related DICOM.
Header, URI and query rules keep blocking every request, uploads included.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.log_group import encrypted_log_group
from stacks.settings import WafSettings

W = aws.wafv2
MANAGED_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# Body-inspecting rules of each managed group (AWS WAF developer guide, "AWS Managed Rules rule groups list");
# each labels what it matched as awswaf:managed:aws:<namespace>:<Rule>_Body.
BODY_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "AWSManagedRulesCommonRuleSet": (
        "core-rule-set",
        ("SizeRestrictions_BODY", "EC2MetaDataSSRF_BODY", "GenericLFI_BODY", "GenericRFI_BODY",
         "CrossSiteScripting_BODY"),
    ),
    "AWSManagedRulesKnownBadInputsRuleSet": (
        "known-bad-inputs",
        ("JavaDeserializationRCE_BODY", "Log4JRCE_BODY", "ReactJSRCE_BODY"),
    ),
    "AWSManagedRulesSQLiRuleSet": ("sql-database", ("SQLi_BODY", "SQLiExtendedPatterns_BODY")),
}  # fmt: skip


def body_labels() -> list[str]:
    return [
        f"awswaf:managed:aws:{namespace}:{rule.removesuffix('_BODY')}_Body"
        for namespace, rules in BODY_RULES.values()
        for rule in rules
    ]


@dataclass(frozen=True)
class WafArgs:
    context: StackContext
    load_balancer_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    waf: WafSettings


def _visibility(metric: str) -> W.WebAclRuleVisibilityConfigArgs:
    return W.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed(priority: int, group: str) -> W.WebAclRuleArgs:
    overrides = [
        W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
            name=rule,
            action_to_use=W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(count={}),
        )
        for rule in BODY_RULES.get(group, ("", ()))[1]
    ] or None
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


def _match(field: W.WebAclRuleStatementByteMatchStatementFieldToMatchArgs, value: str, how: str,
           transform: str = "NONE") -> W.WebAclRuleStatementArgs:  # fmt: skip
    return W.WebAclRuleStatementArgs(
        byte_match_statement=W.WebAclRuleStatementByteMatchStatementArgs(
            positional_constraint=how,
            search_string=value,
            field_to_match=field,
            text_transformations=[
                W.WebAclRuleStatementByteMatchStatementTextTransformationArgs(priority=0, type=transform)
            ],
        )
    )


def _body_rules_except_stow(priority: int, stow_prefix: str) -> W.WebAclRuleArgs:
    F = W.WebAclRuleStatementByteMatchStatementFieldToMatchArgs
    content_type = F(single_header=W.WebAclRuleStatementByteMatchStatementFieldToMatchSingleHeaderArgs(
        name="content-type"))  # fmt: skip
    is_stow = W.WebAclRuleStatementArgs(
        and_statement=W.WebAclRuleStatementAndStatementArgs(
            statements=[
                _match(F(uri_path={}), stow_prefix, "STARTS_WITH"),
                _match(F(method={}), "POST", "EXACTLY"),
                _match(content_type, "multipart/related", "STARTS_WITH", "LOWERCASE"),
            ]
        )
    )
    labelled = W.WebAclRuleStatementArgs(
        or_statement=W.WebAclRuleStatementOrStatementArgs(
            statements=[
                W.WebAclRuleStatementArgs(
                    label_match_statement=W.WebAclRuleStatementLabelMatchStatementArgs(scope="LABEL", key=label)
                )
                for label in body_labels()
            ]
        )
    )
    return W.WebAclRuleArgs(
        name="BodyRulesExceptStow",
        priority=priority,
        action=W.WebAclRuleActionArgs(block={}),
        statement=W.WebAclRuleStatementArgs(
            and_statement=W.WebAclRuleStatementAndStatementArgs(
                statements=[
                    labelled,
                    W.WebAclRuleStatementArgs(not_statement=W.WebAclRuleStatementNotStatementArgs(statement=is_stow)),
                ]
            )
        ),
        visibility_config=_visibility("BodyRulesExceptStow"),
    )


class Waf(pulumi.ComponentResource):
    def __init__(self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:edge:Waf", name, None, opts)
        ctx, waf = args.context, args.waf
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
            _body_rules_except_stow(len(MANAGED_GROUPS) + 1, waf.stow_path_prefix),
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
