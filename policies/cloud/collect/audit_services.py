"""Logging and detection: log groups, CloudTrail, GuardDuty, AWS Config, SNS topics, secrets."""

from __future__ import annotations

from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack, tag_dict


def log_groups(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for g in api.pages("logs", "DescribeLogGroups", "logGroups"):
        arn = g["arn"].removesuffix(":*")
        tags = api.call("logs", "ListTagsForResource", resourceArn=arn).get("tags", {})
        if in_stack(tags, stack):
            out.append({**g, "tags": tag_dict(tags)})
    return out


def trails(api: AwsApi) -> list[dict[str, Any]]:
    """Trails are account-wide: every one counts, whatever its tags."""
    out = []
    for t in api.call("cloudtrail", "DescribeTrails", includeShadowTrails=False).get("trailList", []):
        status = api.call("cloudtrail", "GetTrailStatus", Name=t["TrailARN"])
        selectors = api.call("cloudtrail", "GetEventSelectors", TrailName=t["TrailARN"])
        out.append({**t, "IsLogging": status.get("IsLogging"), "selectors": selectors})
    return out


def guardduty_detectors(api: AwsApi) -> list[dict[str, Any]]:
    return [
        {"id": d, **api.call("guardduty", "GetDetector", DetectorId=d)}
        for d in api.call("guardduty", "ListDetectors").get("DetectorIds", [])
    ]


def config_recorders(api: AwsApi) -> list[dict[str, Any]]:
    recorders = api.call("config", "DescribeConfigurationRecorders").get("ConfigurationRecorders", [])
    status = {
        s["name"]: s
        for s in api.call("config", "DescribeConfigurationRecorderStatus").get("ConfigurationRecordersStatus", [])
    }
    return [{**r, "recording": status.get(r["name"], {}).get("recording", False)} for r in recorders]


def topics(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for t in api.pages("sns", "ListTopics", "Topics"):
        tags = api.call("sns", "ListTagsForResource", ResourceArn=t["TopicArn"]).get("Tags", [])
        if in_stack(tags, stack):
            attrs = api.call("sns", "GetTopicAttributes", TopicArn=t["TopicArn"]).get("Attributes", {})
            out.append({"arn": t["TopicArn"], "attributes": attrs})
    return out


def secrets(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    return [s for s in api.pages("secretsmanager", "ListSecrets", "SecretList") if in_stack(s.get("Tags"), stack)]
