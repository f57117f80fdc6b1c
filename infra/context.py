"""What every component needs to know about the stack it belongs to: name, account, tags, protection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

DataClass = Literal["phi", "logs", "none"]
TAG_STACK = "pacsguard:stack"
TAG_DATA_CLASS = "pacsguard:data-class"
TAG_ENVIRONMENT = "pacsguard:environment"  # lets policies judge a resource by its stack's rules


@dataclass(frozen=True)
class StackContext:
    stack: str
    environment: str  # prod or dev: tagged on every resource, so policies judge it by its stack's rules
    account_id: pulumi.Input[str]
    partition: str
    region: str
    log_retention_days: int  # every log group and log bucket of the stack keeps its records this long

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def prefix(self) -> str:
        """Physical-name prefix; short because several AWS names cap at 32 characters."""
        return f"pacsguard-{self.stack}"[:24]

    def tags(self, data_class: DataClass, **extra: str) -> dict[str, str]:
        return {TAG_STACK: self.stack, TAG_DATA_CLASS: data_class, TAG_ENVIRONMENT: self.environment, **extra}

    def opts(
        self, parent: pulumi.Resource, *, phi: bool = False, depends_on: list[pulumi.Resource] | None = None
    ) -> pulumi.ResourceOptions:
        """Child options; PHI-bearing resources and keys are protected from deletion in prod."""
        return pulumi.ResourceOptions(parent=parent, protect=bool(phi and self.is_prod), depends_on=depends_on)

    def arn(self, service: str, resource: str, *, region: bool = True) -> pulumi.Output[str]:
        where = self.region if region else ""
        return pulumi.Output.concat(f"arn:{self.partition}:{service}:{where}:", self.account_id, f":{resource}")

    def service_host(self, service: str) -> str:
        """The regional endpoint name a service uses in `kms:ViaService` conditions."""
        return f"{service}.{self.region}.amazonaws.com"
