"""What BAK-COVERAGE needs of the account: the stack's databases, file systems and persistent volumes, and whether a
backup selection assigns one by AWS's rule (policies.facts.backup_selection). (policies.cloud.facts.protected)"""

from __future__ import annotations

from typing import Any

from policies.cloud.collect import data, ec2, in_stack, tag_dict
from policies.facts.backup_selection import Selection, arn_matches, conditions


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
        if in_stack(v.get("Tags"), stack) and not dies_with_its_instance(v):
            out.append(
                (
                    v["VolumeId"],
                    f"arn:aws:ec2:{cx.region}:{api.account_id}:volume/{v['VolumeId']}",
                    tag_dict(v.get("Tags")),
                )
            )
    return out


def dies_with_its_instance(volume: dict[str, Any]) -> bool:
    """An instance's own disk (deleted when the Auto Scaling group replaces the instance): the archive lives in the
    database, the file system or the persistent image volume, never there, and AWS Backup need not copy it."""
    attached = volume.get("Attachments") or []
    return bool(attached) and all(a.get("DeleteOnTermination") for a in attached)


def selects(selection: dict[str, Any], arn: str, tags: dict[str, str]) -> bool:
    """Whether a BackupSelection (GetBackupSelection's shape) assigns this resource, by AWS's rule."""
    found = selection.get("Conditions") or {}
    rule = Selection(
        has_resources=bool(selection.get("Resources")),
        conditions=conditions(
            {op: [(c.get("ConditionKey", ""), c.get("ConditionValue", "")) for c in found[op] or []] for op in found}
        ),
        list_of_tags=tuple(
            (c.get("ConditionKey", ""), c.get("ConditionValue", ""))
            for c in selection.get("ListOfTags") or []
            if c.get("ConditionType") == "STRINGEQUALS"
        ),
    )
    return rule.assigns(
        named=arn_matches(arn, selection.get("Resources") or []),
        excluded=arn_matches(arn, selection.get("NotResources") or []),
        tags=tags,
    )
