"""What BAK-COVERAGE needs of the account: the stack's databases, file systems and volumes, and whether a backup
selection covers one (by ARN, wildcard or tag condition, and not excluded). (policies.cloud.facts.protected)"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from policies.cloud.collect import data, ec2, in_stack, tag_dict


def protected_resources(cx: Any) -> list[tuple[str, str, dict[str, str]]]:
    """(name, ARN, tags) of what must be backed up: the index database, the image store, the host volumes."""
    api, stack = cx.api, cx.stack
    out = [(d["DBInstanceIdentifier"], d["DBInstanceArn"], tag_dict(d.get("TagList")))
           for d in data.db_instances(api, stack)]  # fmt: skip
    for fs in data.file_systems(api, stack):
        arn = (
            fs.get("FileSystemArn")
            or f"arn:aws:elasticfilesystem:{cx.region}:{api.account_id}:file-system/{fs['FileSystemId']}"
        )
        out.append((fs["FileSystemId"], arn, tag_dict(fs.get("Tags"))))
    for v in ec2.volumes(api):
        if in_stack(v.get("Tags"), stack):
            out.append(
                (
                    v["VolumeId"],
                    f"arn:aws:ec2:{cx.region}:{api.account_id}:volume/{v['VolumeId']}",
                    tag_dict(v.get("Tags")),
                )
            )
    return out


def selects(selection: dict[str, Any], arn: str, tags: dict[str, str]) -> bool:
    if any(fnmatchcase(arn, pattern) for pattern in selection.get("NotResources") or []):
        return False
    by_arn = any(fnmatchcase(arn, pattern) for pattern in selection.get("Resources") or [])
    by_tag = any(
        c.get("ConditionType") == "STRINGEQUALS" and tags.get(c.get("ConditionKey", "")) == c.get("ConditionValue")
        for c in selection.get("ListOfTags") or []
    )
    conditions = selection.get("Conditions") or {}
    equals = conditions.get("StringEquals") or []
    by_condition = bool(equals) and all(
        tags.get(c.get("ConditionKey", "").removeprefix("aws:ResourceTag/")) == c.get("ConditionValue") for c in equals
    )
    return by_arn or by_tag or by_condition
