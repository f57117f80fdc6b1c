"""The Cognito hosted-UI prefix domain: unique across every AWS account in the region, so never just the stack name."""

from __future__ import annotations

import hashlib

import pulumi

from infra.context import StackContext


def login_domain_prefix(ctx: StackContext, chosen: str | None) -> pulumi.Input[str]:
    """`identity.domain_prefix` when given; otherwise the stack prefix plus a short hash of account and stack.

    A second adopter's stack of the same name (in another account, same region) would otherwise find the bare
    `<prefix>-login` taken, and CreateUserPoolDomain fails.
    """
    if chosen:
        return chosen
    return pulumi.Output.from_input(ctx.account_id).apply(
        lambda account: f"{ctx.prefix}-login-{hashlib.sha256(f'{account}/{ctx.stack}'.encode()).hexdigest()[:8]}"
    )
