"""The trail's name and ARN, known before the trail exists (the logs bucket policy and key policy need them)."""

from __future__ import annotations

import pulumi

from infra.context import StackContext


def trail_name(ctx: StackContext) -> str:
    return f"{ctx.prefix}-trail"


def trail_arn(ctx: StackContext) -> pulumi.Output[str]:
    return ctx.arn("cloudtrail", f"trail/{trail_name(ctx)}")
