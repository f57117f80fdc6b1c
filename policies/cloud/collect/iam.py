"""IAM principals of the account: users (console access, MFA, access keys) and every policy attached to users,
groups and roles, inline, customer-managed and AWS-managed."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from policies.cloud.api import AwsApi

SERVICE_LINKED_PATH = "/aws-service-role/"  # AWS owns these roles and their policies


def users(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("iam", "ListUsers", "Users")


def has_console_password(api: AwsApi, user: str) -> bool:
    return api.call("iam", "GetLoginProfile", UserName=user, missing=("NoSuchEntity",)) is not None


def mfa_devices(api: AwsApi, user: str) -> list[dict[str, Any]]:
    return api.pages("iam", "ListMFADevices", "MFADevices", UserName=user)


def access_keys(api: AwsApi, user: str) -> list[dict[str, Any]]:
    out = []
    for k in api.pages("iam", "ListAccessKeys", "AccessKeyMetadata", UserName=user):
        used = api.call("iam", "GetAccessKeyLastUsed", AccessKeyId=k["AccessKeyId"]).get("AccessKeyLastUsed", {})
        out.append({**k, "LastUsedDate": used.get("LastUsedDate")})
    return out


def authorization_details(api: AwsApi) -> dict[str, list[dict[str, Any]]]:
    """Users, groups, roles and customer-managed policies with their documents, in one paginated call."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
        out[key] = api.pages(
            "iam",
            "GetAccountAuthorizationDetails",
            key,
            Filter=["User", "Role", "Group", "LocalManagedPolicy"],
        )
    return out


def managed_policy_document(api: AwsApi, arn: str) -> dict[str, Any]:
    """The default version's document of a managed policy (AWS-managed ones are not in the details call)."""
    version = api.call("iam", "GetPolicy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = api.call("iam", "GetPolicyVersion", PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return document(doc)


def document(doc: Any) -> dict[str, Any]:
    """IAM returns documents URL-encoded JSON (boto3 decodes most, not all)."""
    if isinstance(doc, dict):
        return doc
    return json.loads(urllib.parse.unquote(str(doc)))
