"""Load balancers with attributes and listeners, and the WAF on each."""

from __future__ import annotations

from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack


def load_balancers(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    lbs = api.pages("elbv2", "DescribeLoadBalancers", "LoadBalancers")
    if not lbs:
        return []
    tags = {}
    arns = [lb["LoadBalancerArn"] for lb in lbs]
    for i in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs at a time
        for d in api.call("elbv2", "DescribeTags", ResourceArns=arns[i : i + 20]).get("TagDescriptions", []):
            tags[d["ResourceArn"]] = d.get("Tags", [])
    out = []
    for lb in lbs:
        if not in_stack(tags.get(lb["LoadBalancerArn"]), stack):
            continue
        attrs = api.call("elbv2", "DescribeLoadBalancerAttributes", LoadBalancerArn=lb["LoadBalancerArn"]).get(
            "Attributes", []
        )
        listeners = api.pages("elbv2", "DescribeListeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"])
        out.append({**lb, "attributes": {a["Key"]: a["Value"] for a in attrs}, "listeners": listeners})
    return out


def web_acl_for(api: AwsApi, resource_arn: str) -> dict[str, Any] | None:
    r = api.call("wafv2", "GetWebACLForResource", ResourceArn=resource_arn, missing=("WAFNonexistentItemException",))
    return (r or {}).get("WebACL")


def listener_rules(api: AwsApi, listener_arn: str) -> list[dict[str, Any]]:
    """A listener's rules besides its default one (whose actions are the listener's default actions)."""
    return [r for r in api.pages("elbv2", "DescribeRules", "Rules", ListenerArn=listener_arn) if not r.get("IsDefault")]
