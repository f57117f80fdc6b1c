"""IAM users of the account, what only the cloud can see: console users have MFA, and no access key lives long or
lies unused. (IAM-NO-ADMIN judges shared facts: policies.facts, policies/families/identity.py.)

An access key counts as unused when it was never used, whatever its age: the issue asks for "no long-lived access
keys older than 90 days or unused", every IAM user key is long-lived by nature (the plan fails any the program
creates), and a key nobody uses is one to delete, not to wait 90 days on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from policies.cloud.collect import iam
from policies.model import Outcome, outcome

MAX_KEY_AGE_DAYS = 90


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
