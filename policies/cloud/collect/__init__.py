"""Per-service collectors (prowler-style): each boto3 call once, results filtered to the stack by tag."""

from __future__ import annotations

from typing import Any

TAG_STACK = "pacsguard:stack"


def tag_dict(tags: Any) -> dict[str, str]:
    """Tags in any of AWS's shapes: [{Key, Value}], [{TagKey, TagValue}], [{key, value}] or a mapping."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    out = {}
    for t in tags or []:
        key = t.get("Key", t.get("TagKey", t.get("key")))
        value = t.get("Value", t.get("TagValue", t.get("value")))
        if key is not None:
            out[str(key)] = str(value)
    return out


def in_stack(tags: Any, stack: str) -> bool:
    return tag_dict(tags).get(TAG_STACK) == stack
