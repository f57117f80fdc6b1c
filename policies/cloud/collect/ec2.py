"""EC2: EBS defaults, VPCs and flow logs, security groups, instances and launch templates."""

from __future__ import annotations

from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import TAG_STACK, in_stack


def ebs_encryption_by_default(api: AwsApi) -> bool:
    return bool(api.call("ec2", "GetEbsEncryptionByDefault").get("EbsEncryptionByDefault"))


def ebs_default_key(api: AwsApi) -> str:
    return api.call("ec2", "GetEbsDefaultKmsKeyId").get("KmsKeyId", "")


def vpcs(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    return [v for v in api.pages("ec2", "DescribeVpcs", "Vpcs") if in_stack(v.get("Tags"), stack)]


def subnets(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("ec2", "DescribeSubnets", "Subnets")


def network_interfaces(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("ec2", "DescribeNetworkInterfaces", "NetworkInterfaces")


def flow_logs(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("ec2", "DescribeFlowLogs", "FlowLogs")


def security_groups(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("ec2", "DescribeSecurityGroups", "SecurityGroups")


def instances(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    reservations = api.pages("ec2", "DescribeInstances", "Reservations")
    return [
        i
        for r in reservations
        for i in r.get("Instances", [])
        if in_stack(i.get("Tags"), stack) and i.get("State", {}).get("Name") != "terminated"
    ]


def launch_templates(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for lt in api.pages("ec2", "DescribeLaunchTemplates", "LaunchTemplates"):
        if not in_stack(lt.get("Tags"), stack):
            continue
        versions = api.call(
            "ec2", "DescribeLaunchTemplateVersions", LaunchTemplateId=lt["LaunchTemplateId"], Versions=["$Latest"]
        ).get("LaunchTemplateVersions", [])
        out.append({**lt, "data": versions[0].get("LaunchTemplateData", {}) if versions else {}})
    return out


def volumes(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("ec2", "DescribeVolumes", "Volumes")


def snapshots(api: AwsApi, stack: str, volume_ids: set[str]) -> list[dict[str, Any]]:
    """The account's own EBS snapshots tagged with the stack or taken of its volumes (filtered server-side: an
    account, or an emulator, may own thousands)."""
    tagged = api.pages("ec2", "DescribeSnapshots", "Snapshots", OwnerIds=["self"],
                       Filters=[{"Name": f"tag:{TAG_STACK}", "Values": [stack]}])  # fmt: skip
    found = {s["SnapshotId"]: s for s in tagged}
    if volume_ids:
        by_volume = api.pages("ec2", "DescribeSnapshots", "Snapshots", OwnerIds=["self"],
                              Filters=[{"Name": "volume-id", "Values": sorted(volume_ids)}])  # fmt: skip
        found.update({s["SnapshotId"]: s for s in by_volume})
    return list(found.values())


def snapshot_is_public(api: AwsApi, snapshot_id: str) -> bool:
    perms = api.call("ec2", "DescribeSnapshotAttribute", SnapshotId=snapshot_id, Attribute="createVolumePermission")
    return any(p.get("Group") == "all" for p in perms.get("CreateVolumePermissions", []))
