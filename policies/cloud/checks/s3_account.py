"""NET-S3-ACCOUNT-PAB in the account: the account-level S3 public access block (the plan declares no such thing)."""

from __future__ import annotations

from typing import Any

from policies.cloud.collect import s3
from policies.model import Outcome, outcome
from policies.plan.facts import PAB_FLAGS


def account_public_access_block(cx: Any) -> list[Outcome]:
    pab = s3.account_public_access_block(cx.api) or {}
    missing = [f for f in PAB_FLAGS if not pab.get(f)]
    return [
        outcome(
            "account",
            f"account-level block lacks {', '.join(missing)}" if missing else None,
            "account blocks public buckets",
        )
    ]
