"""KMS: the stack's customer-managed keys with rotation and key policy."""

from __future__ import annotations

import json
from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack, tag_dict


def all_keys(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    """Every customer-managed key tagged with the stack, whatever its state (disabled, pending deletion...)."""
    out = []
    for k in api.pages("kms", "ListKeys", "Keys"):
        meta = api.call("kms", "DescribeKey", KeyId=k["KeyId"])["KeyMetadata"]
        if meta.get("KeyManager") != "CUSTOMER":
            continue
        tags = tag_dict(api.call("kms", "ListResourceTags", KeyId=k["KeyId"]).get("Tags"))
        if in_stack(tags, stack):
            out.append({"id": k["KeyId"], "arn": meta["Arn"], "tags": tags, "meta": meta})
    return out


def keys(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    """The stack's keys that are not on their way out (ENC-KMS-KEY-STATE judges those)."""
    return [k for k in all_keys(api, stack) if k["meta"].get("KeyState") != "PendingDeletion"]


def stack_key_arns(api: AwsApi, stack: str) -> set[str]:
    return {k["arn"] for k in all_keys(api, stack)}


def rotation_enabled(api: AwsApi, key_id: str) -> bool:
    return bool(api.call("kms", "GetKeyRotationStatus", KeyId=key_id).get("KeyRotationEnabled"))


def key_policy(api: AwsApi, key_id: str) -> dict[str, Any]:
    return json.loads(api.call("kms", "GetKeyPolicy", KeyId=key_id, PolicyName="default")["Policy"])
