"""What a cloud check reads: the API, the stack it audits, and that stack's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies.cloud.api import AwsApi


@dataclass
class CloudContext:
    api: AwsApi
    stack: str
    environment: str = "prod"  # prod rules unless the stack's settings say dev
    allowed_regions: list[str] | None = None
    not_applicable: dict[str, str] = field(default_factory=dict)  # control id -> why the stack has none by design

    @property
    def region(self) -> str:
        return self.api.region


def not_applicable_by_design(settings: Any) -> dict[str, str]:
    """Controls whose resources the stack's settings leave out on purpose (an empty scope there is no gap)."""
    out = {}
    if settings.storage.mode != "efs":
        for cid in ("ENC-EFS-KMS", "ENC-EFS-TLS"):
            out[cid] = f"storage.mode is {settings.storage.mode}: the stack has no EFS file system"
    return out
