"""What an offline synthesis captures, as plain data: no Pulumi import, so a cached plan loads without the SDK."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stacks.settings import Settings


@dataclass
class CapturedResource:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    protect: bool
    custom: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    # input property -> URNs it depends on (sorted): how split resources are joined (ids are unknown in a preview)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider_region: str | None = None
    # Every URN the engine waits for before creating this one: explicit depends_on and input references.
    dependencies: list[str] = field(default_factory=list)
    # Inputs whose later changes the engine does not send to the provider (ResourceOptions.ignore_changes).
    ignore_changes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "parent": self.parent,
            "inputs": self.inputs,
            "protect": self.protect,
            "depends_on": self.dependencies,
        }


@dataclass
class Synthesis:
    stack: str
    settings: Settings
    resources: list[CapturedResource]

    def of_type(self, *types: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type in types]

    def by_urn(self, urn: str) -> CapturedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.resources]

    @classmethod
    def from_json(cls, stack: str, settings: Settings, resources: list[dict[str, Any]]) -> Synthesis:
        return cls(stack=stack, settings=settings, resources=[CapturedResource(**r) for r in resources])
