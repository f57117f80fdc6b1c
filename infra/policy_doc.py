"""IAM policy documents built from typed statements, so a resource wildcard is a visible decision."""

from __future__ import annotations

import json
from typing import Any

import pulumi

Statement = dict[str, Any]


def statement(
    sid: str,
    actions: list[str],
    resources: list[pulumi.Input[str]] | str,
    *,
    effect: str = "Allow",
    principal: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> Statement:
    if any(a == "*" or a.endswith(":*") for a in actions):
        raise ValueError(f"statement {sid}: wildcard actions are not allowed ({actions})")
    st: Statement = {"Sid": sid, "Effect": effect, "Action": sorted(actions)}
    if principal is not None:
        st["Principal"] = principal
    st["Resource"] = resources
    if condition:
        st["Condition"] = condition
    return st


def document(*statements: Statement) -> pulumi.Output[str]:
    """Resolve every Output inside the statements and render the JSON policy."""
    return pulumi.Output.from_input(list(statements)).apply(
        lambda sts: json.dumps({"Version": "2012-10-17", "Statement": sts}, sort_keys=True)
    )


def deny_insecure_transport(sid: str, resources: list[pulumi.Input[str]], actions: list[str]) -> Statement:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def assume_role_policy(service: str, account_id: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """Trust one AWS service; with an account, only on its behalf (confused-deputy guard).

    EC2 instance profiles get no such condition: EC2 does not send aws:SourceAccount when it
    assumes an instance role, so the condition would lock the hosts out of their credentials.
    """
    st: Statement = {
        "Sid": "TrustService",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if account_id is not None:
        st["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document(st)
