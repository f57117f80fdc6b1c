"""VPC endpoint policies: what the stack's own principals may reach through each endpoint, and nothing else.

Without a policy an endpoint passes any request, to any account's resources: a compromised host could copy
PHI to an attacker's bucket through the S3 endpoint. Every policy admits only this account's principals;
S3, KMS, Secrets Manager and CloudWatch Logs are further limited to the stack's own buckets, keys, secrets
and log groups.
"""

from __future__ import annotations

import pulumi

from infra.context import StackContext
from infra.policy_doc import Statement, document

# SSM Agent fetches its documents and updates from these AWS-owned buckets (AWS Systems Manager
# documentation, "Reference: Amazon S3 buckets for SSM Agent communications").
SSM_AGENT_BUCKETS = (
    "aws-ssm-{r}",
    "aws-windows-downloads-{r}",
    "amazon-ssm-{r}",
    "amazon-ssm-packages-{r}",
    "{r}-birdwatcher-prod",
    "aws-ssm-distributor-file-{r}",
    "aws-ssm-document-attachments-{r}",
    "patch-baseline-snapshot-{r}",
)
# In AWS GovCloud (US) the ALB publishes its signing keys in this AWS-owned bucket (infra/hosts.alb_key_url): the
# identity-key service's anonymous GET reaches S3 through the gateway endpoint, so its policy must admit it.
ALB_PUBLIC_KEYS_BUCKET = "aws-elb-public-keys-prod-{r}"


def _allow(
    sid: str, actions: list[str], resources: list[pulumi.Input[str]] | str, ctx: StackContext, extra: dict | None = None
) -> Statement:
    condition = {"StringEquals": {"aws:PrincipalAccount": ctx.account_id, **(extra or {})}}
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": resources,
        "Condition": condition,
    }


def endpoint_policy(ctx: StackContext, service: str) -> pulumi.Output[str]:
    p = ctx.partition
    if service == "s3":
        own = f"arn:{p}:s3:::{ctx.prefix}-*"
        ssm = [f"arn:{p}:s3:::{b.format(r=ctx.region)}/*" for b in SSM_AGENT_BUCKETS]
        aws_owned = [("SsmAgentBuckets", ssm)]
        if p == "aws-us-gov":
            aws_owned.append(("AlbPublicKeys", [f"arn:{p}:s3:::{ALB_PUBLIC_KEYS_BUCKET.format(r=ctx.region)}/*"]))
        return document(
            _allow("StackBuckets", ["s3:*"], [own, f"{own}/*"], ctx),
            *(
                {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:GetObject"], "Resource": res}
                for sid, res in aws_owned
            ),
        )
    if service == "kms":
        keys = ctx.arn("kms", "key/*")
        return document(_allow("StackKeys", ["kms:*"], [keys], ctx, {"aws:ResourceTag/pacsguard:stack": ctx.stack}))
    if service == "secretsmanager":
        return document(_allow("AccountSecrets", ["secretsmanager:*"], [ctx.arn("secretsmanager", "secret:*")], ctx))
    if service == "logs":
        groups = [
            ctx.arn("logs", f"log-group:/pacsguard/{ctx.stack}/*"),
            ctx.arn("logs", f"log-group:/pacsguard/{ctx.stack}/*:*"),
        ]
        return document(_allow("StackLogGroups", ["logs:*"], groups, ctx))
    if service in ("sts", "ec2"):
        return document(_allow("AccountPrincipals", [f"{service}:*"], "*", ctx))
    raise ValueError(f"no endpoint policy for {service}: see infra.endpoint_services.POLICY_SERVICES")
