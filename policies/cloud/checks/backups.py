"""BAK-COVERAGE in the account: every stack database, file system and volume is selected by a backup plan of the
stack (by ARN, wildcard or tag condition, and not excluded)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from policies.cloud.collect import backup, data, ec2, in_stack, tag_dict
from policies.model import Outcome, outcome


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


def coverage(cx: Any) -> list[Outcome]:
    plans = backup.plans(cx.api, cx.stack)
    if not plans:
        return [Outcome("stack", "fail", f"no backup plan tagged pacsguard:stack={cx.stack}")]
    chosen = [s for p in plans for s in backup.selections(cx.api, p["BackupPlanId"])]
    resources = protected_resources(cx)
    if not resources:
        return [Outcome("stack", "fail", "no database, file system or volume of the stack to back up was found")]
    return [
        outcome(
            name,
            None
            if any(selects(s, arn, tags) for s in chosen)
            else "no backup selection of the stack's plans covers it",
            "selected by a backup plan",
        )
        for name, arn, tags in resources
    ]
