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
    """Trails are account-wide: every one counts, whatever its tags. A multi-region trail created in another region
    appears here as a shadow trail; its status and selectors are asked of its home region."""
    out, seen = [], set()
    for t in api.call("cloudtrail", "DescribeTrails", includeShadowTrails=True).get("trailList", []):
        if t["TrailARN"] in seen:
            continue
        seen.add(t["TrailARN"])
        home = t.get("HomeRegion") or api.region
        region = None if home == api.region else home
        status = api.call("cloudtrail", "GetTrailStatus", Name=t["TrailARN"], region=region)
        selectors = api.call("cloudtrail", "GetEventSelectors", TrailName=t["TrailARN"], region=region)
        out.append({**t, "IsLogging": status.get("IsLogging"), "selectors": selectors})
    return out


def metric_filters(api: AwsApi, log_group: str, region: str | None = None) -> list[dict[str, Any]]:
    return api.call("logs", "DescribeMetricFilters", logGroupName=log_group, region=region).get("metricFilters", [])


def alarms(api: AwsApi, region: str | None = None) -> list[dict[str, Any]]:
    if region is None:
        return api.pages("cloudwatch", "DescribeAlarms", "MetricAlarms")
    return api.call("cloudwatch", "DescribeAlarms", region=region).get("MetricAlarms", [])


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
