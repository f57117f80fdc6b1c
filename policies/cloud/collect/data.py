"""RDS and EFS: the index database and the image store."""

from __future__ import annotations

import json
from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack


def db_instances(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    return [d for d in api.pages("rds", "DescribeDBInstances", "DBInstances") if in_stack(d.get("TagList"), stack)]


def db_parameters(api: AwsApi, group: str) -> dict[str, str]:
    params = api.pages("rds", "DescribeDBParameters", "Parameters", DBParameterGroupName=group)
    return {p["ParameterName"]: str(p.get("ParameterValue", "")) for p in params}


def file_systems(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    return [f for f in api.pages("efs", "DescribeFileSystems", "FileSystems") if in_stack(f.get("Tags"), stack)]


def file_system_policy(api: AwsApi, fs_id: str) -> dict[str, Any]:
    r = api.call("efs", "DescribeFileSystemPolicy", FileSystemId=fs_id, missing=("PolicyNotFound",))
    return json.loads(r["Policy"]) if r and r.get("Policy") else {}


def db_snapshots(api: AwsApi) -> list[dict[str, Any]]:
    return api.pages("rds", "DescribeDBSnapshots", "DBSnapshots")


def db_snapshot_is_public(api: AwsApi, snapshot_id: str) -> bool:
    result = api.call("rds", "DescribeDBSnapshotAttributes", DBSnapshotIdentifier=snapshot_id)
    attrs = (result.get("DBSnapshotAttributesResult") or {}).get("DBSnapshotAttributes", [])
    return any(a.get("AttributeName") == "restore" and "all" in (a.get("AttributeValues") or []) for a in attrs)
