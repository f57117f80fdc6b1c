"""AWS Backup: vaults (encryption, lock) and plans (rules, copies)."""

from __future__ import annotations

from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack, tag_dict


def vaults(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for v in api.pages("backup", "ListBackupVaults", "BackupVaultList"):
        tags = api.call("backup", "ListTags", ResourceArn=v["BackupVaultArn"]).get("Tags", {})
        if in_stack(tags, stack):
            out.append({**v, "tags": tag_dict(tags)})
    return out


def plans(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for p in api.pages("backup", "ListBackupPlans", "BackupPlansList"):
        tags = api.call("backup", "ListTags", ResourceArn=p["BackupPlanArn"]).get("Tags", {})
        if in_stack(tags, stack):
            out.append(api.call("backup", "GetBackupPlan", BackupPlanId=p["BackupPlanId"]))
    return out


def selections(api: AwsApi, plan_id: str) -> list[dict[str, Any]]:
    """A plan's backup selections with their resources, exclusions and tag conditions."""
    listed = api.pages("backup", "ListBackupSelections", "BackupSelectionsList", BackupPlanId=plan_id)
    return [
        api.call("backup", "GetBackupSelection", BackupPlanId=plan_id, SelectionId=s["SelectionId"])["BackupSelection"]
        for s in listed
    ]
