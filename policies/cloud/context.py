"""What a cloud check reads: the API, the stack it audits, and that stack's rules."""

from __future__ import annotations

from dataclasses import dataclass

from policies.cloud.api import AwsApi


@dataclass
class CloudContext:
    api: AwsApi
    stack: str
    environment: str = "prod"  # prod rules unless the stack's settings say dev
    allowed_regions: list[str] | None = None

    @property
    def region(self) -> str:
        return self.api.region
