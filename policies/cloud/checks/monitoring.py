"""AUD-ALARMS in the account (the CIS AWS Foundations monitoring set for network, IAM and KMS changes: a metric
filter on a trail's log group and an alarm that notifies someone), Secrets Manager rotation, RDS log export."""

from __future__ import annotations

import re
from typing import Any

from policies.cloud.collect import audit_services
from policies.model import Outcome, outcome

# CIS AWS Foundations Benchmark v3.0 section 4 (monitoring): the events each filter must match.
CIS_EVENTS = {
    "security-group-changes (CIS 4.10)": [
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup",
    ],
    "nacl-changes (CIS 4.11)": [
        "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
    ],
    "network-gateway-changes (CIS 4.12)": [
        "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway",
        "DeleteInternetGateway", "DetachInternetGateway",
    ],
    "route-table-changes (CIS 4.13)": [
        "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
        "DeleteRoute", "DisassociateRouteTable",
    ],
    "vpc-changes (CIS 4.14)": [
        "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
    ],
    "iam-policy-changes (CIS 4.4)": [
        "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
        "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
        "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy",
        "DetachGroupPolicy",
    ],
    "kms-disable-or-deletion (CIS 4.7)": ["DisableKey", "ScheduleKeyDeletion"],
}  # fmt: skip


def matches(pattern: str, events: list[str]) -> bool:
    """A filter pattern names every event (exact names: CreateRoute is not CreateRouteTable)."""
    return all(re.search(rf"\$\.eventName\s*=\s*\"?{re.escape(e)}\b(?!\w)", pattern) for e in events)


def _log_group_of(trail: dict[str, Any]) -> tuple[str, str] | None:
    arn = trail.get("CloudWatchLogsLogGroupArn") or ""
    parts = arn.split(":")
    return (parts[6], parts[3]) if len(parts) > 6 else None  # (log group name, region)


def cis_alarms(cx: Any) -> list[Outcome]:
    watched: dict[str, list[dict[str, Any]]] = {}
    for t in audit_services.trails(cx.api):
        found = _log_group_of(t)
        if not (found and t.get("IsMultiRegionTrail") and t.get("IsLogging")):
            continue
        group, region = found
        region_arg = None if region == cx.region else region
        alarms = audit_services.alarms(cx.api, region_arg)
        for f in audit_services.metric_filters(cx.api, group, region_arg):
            metrics = {(m["metricName"], m["metricNamespace"]) for m in f.get("metricTransformations", [])}
            notifying = [
                a for a in alarms if (a.get("MetricName"), a.get("Namespace")) in metrics and a.get("AlarmActions")
            ]
            watched.setdefault(f.get("filterPattern", ""), []).extend(notifying)
    out = []
    for name, events in CIS_EVENTS.items():
        filtered = [p for p in watched if matches(p, events)]
        if not filtered:
            failure = "no metric filter on a logging multi-region trail's log group matches these events"
        elif not any(watched[p] for p in filtered):
            failure = "a metric filter matches but no alarm on its metric notifies anyone"
        else:
            failure = None
        out.append(outcome(name, failure, "metric filter and a notifying alarm"))
    return out
