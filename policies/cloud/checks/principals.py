"""IAM principals of the account: none holds administrative or wildcard rights (inline, customer-managed or
AWS-managed), console users have MFA, and no access key lives long or lies unused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from policies.cloud.collect import iam
from policies.graph import as_list, statements
from policies.model import Outcome, outcome

MAX_KEY_AGE_DAYS = 90


def too_broad(doc: dict[str, Any]) -> str | None:
    """Why a policy document is administrative or wildcard, or None."""
    for st in statements(doc):
        if st.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(st.get("Action"))]
        resources = [str(r) for r in as_list(st.get("Resource"))]
        if "*" in actions or "*:*" in actions:
            return f"statement {st.get('Sid') or '(no Sid)'} allows every action" + (
                " on every resource" if "*" in resources else ""
            )
        if st.get("NotAction") is not None and "*" in resources:
            return f"statement {st.get('Sid') or '(no Sid)'} allows everything but {as_list(st.get('NotAction'))}"
        wild = [a for a in actions if a.endswith(":*")]
        if wild and "*" in resources:
            return f"statement {st.get('Sid') or '(no Sid)'} allows {', '.join(wild)} on every resource"
    return None


def _attached_failures(api: Any, attached: list[dict[str, Any]], local: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for a in attached:
        arn = a["PolicyArn"]
        doc = local[arn] if arn in local else iam.managed_policy_document(api, arn)
        why = too_broad(doc)
        if why:
            kind = "customer-managed" if arn in local else "AWS-managed"
            out.append(f"{kind} policy {a['PolicyName']}: {why}")
    return out


def admin_principals(cx: Any) -> list[Outcome]:
    details = iam.authorization_details(cx.api)
    local = {}
    for p in details["Policies"]:
        default = next((v for v in p.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        if default:
            local[p["Arn"]] = iam.document(default["Document"])
    out = []
    kinds = (("UserDetailList", "UserName", "UserPolicyList"), ("GroupDetailList", "GroupName", "GroupPolicyList"),
             ("RoleDetailList", "RoleName", "RolePolicyList"))  # fmt: skip
    for list_key, name_key, inline_key in kinds:
        for p in details[list_key]:
            if p.get("Path", "").startswith(iam.SERVICE_LINKED_PATH):
                continue
            reasons = [f"inline policy {i['PolicyName']}: {why}" for i in p.get(inline_key, [])
                       if (why := too_broad(iam.document(i["PolicyDocument"])))]  # fmt: skip
            reasons += _attached_failures(cx.api, p.get("AttachedManagedPolicies", []), local)
            kind = list_key.removesuffix("DetailList").lower()
            out.append(
                outcome(f"{kind}/{p[name_key]}", "; ".join(reasons) or None, "no administrative or wildcard policy")
            )
    return out or [Outcome("account", "pass", "no IAM user, group or role besides AWS's service-linked roles")]


def console_mfa(cx: Any) -> list[Outcome]:
    out = []
    for u in iam.users(cx.api):
        name = u["UserName"]
        if not iam.has_console_password(cx.api, name):
            continue
        out.append(
            outcome(
                f"user/{name}",
                None if iam.mfa_devices(cx.api, name) else "console password without MFA",
                "console access with MFA",
            )
        )
    return out or [Outcome("account", "pass", "no IAM user can sign in to the console")]


def _age_days(when: Any, now: dt.datetime) -> int | None:
    if not isinstance(when, dt.datetime):
        return None
    return (now - when.astimezone(dt.UTC)).days


def static_keys(cx: Any, now: dt.datetime | None = None) -> list[Outcome]:
    """Root keys (account summary) and every active access key of an IAM user: older than 90 days, never used, or
    unused for 90 days is a failure."""
    now = now or dt.datetime.now(dt.UTC)
    summary = cx.api.call("iam", "GetAccountSummary").get("SummaryMap", {})
    out = [
        outcome(
            "account",
            "the root user has access keys" if summary.get("AccountAccessKeysPresent") else None,
            "no root access keys",
        )
    ]
    for u in iam.users(cx.api):
        for k in iam.access_keys(cx.api, u["UserName"]):
            if k.get("Status") != "Active":
                continue
            age, idle = _age_days(k.get("CreateDate"), now), _age_days(k.get("LastUsedDate"), now)
            if age is not None and age > MAX_KEY_AGE_DAYS:
                failure = f"active access key {age} days old (rotate within {MAX_KEY_AGE_DAYS}, or use a role)"
            elif idle is None:
                failure = "active access key never used: delete it"
            elif idle > MAX_KEY_AGE_DAYS:
                failure = f"active access key unused for {idle} days: delete it"
            else:
                failure = None
            out.append(outcome(f"user/{u['UserName']}:{k['AccessKeyId']}", failure, "recent and in use"))
    return out
