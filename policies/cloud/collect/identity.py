"""Identity: Cognito user pools of the stack; the account's password policy, root MFA and root keys."""

from __future__ import annotations

from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack


def user_pools(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for p in api.pages("cognito-idp", "ListUserPools", "UserPools", MaxResults=60):
        pool = api.call("cognito-idp", "DescribeUserPool", UserPoolId=p["Id"])["UserPool"]
        if in_stack(pool.get("UserPoolTags"), stack):
            out.append(pool)
    return out


def password_policy(api: AwsApi) -> dict[str, Any] | None:
    r = api.call("iam", "GetAccountPasswordPolicy", missing=("NoSuchEntity",))
    return (r or {}).get("PasswordPolicy")


def account_summary(api: AwsApi) -> dict[str, int]:
    return api.call("iam", "GetAccountSummary").get("SummaryMap", {})
