"""ENC-SNAPSHOTS in the account (the cloud has snapshots, the plan does not): the snapshots of the stack's volumes
and database are encrypted with a stack key, and no snapshot is shared with everyone."""

from __future__ import annotations

from typing import Any

from policies.cloud.collect import data, ec2, kms, tag_dict
from policies.cloud.facts import is_stack_key, stack_volume_ids
from policies.model import Outcome, outcome


def _key_failure(encrypted: bool, key: str | None, stack_keys: set[str]) -> str | None:
    if not encrypted:
        return "not encrypted"
    return (
        None
        if is_stack_key(key, stack_keys)
        else f"encrypted with {key or 'the AWS-managed key'}, not a key of the stack"
    )


def snapshots(cx: Any) -> list[Outcome]:
    keys = kms.stack_key_arns(cx.api, cx.stack)
    volumes_of_stack = stack_volume_ids(cx)
    dbs = {d["DBInstanceIdentifier"] for d in data.db_instances(cx.api, cx.stack)}
    out = []
    for s in ec2.snapshots(cx.api, cx.stack, volumes_of_stack):
        failure = (
            "shared with everyone (createVolumePermission: all)"
            if ec2.snapshot_is_public(cx.api, s["SnapshotId"])
            else None
        )
        out.append(outcome(s["SnapshotId"], failure or _key_failure(bool(s.get("Encrypted")), s.get("KmsKeyId"), keys)))
    for s in data.db_snapshots(cx.api):
        tags = tag_dict(s.get("TagList"))
        if not (tags.get("pacsguard:stack") == cx.stack or s.get("DBInstanceIdentifier") in dbs):
            continue
        failure = (
            "restorable by everyone (restore: all)"
            if data.db_snapshot_is_public(cx.api, s["DBSnapshotIdentifier"])
            else None
        )
        out.append(
            outcome(
                s["DBSnapshotIdentifier"], failure or _key_failure(bool(s.get("Encrypted")), s.get("KmsKeyId"), keys)
            )
        )
    return out or [Outcome("stack", "pass", "no manual or automated snapshot of the stack's volumes or database")]
