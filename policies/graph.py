"""The resource graph the plan checks read: from an offline synthesis or from CrossGuard's stack view.

pulumi-aws v7 splits one logical thing into several resources (a bucket's encryption, versioning and
public access block; a security group's rules). Joins follow property dependencies (input -> URN), which
both the SDK mocks and a real preview provide, rather than ids, which a preview does not know yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ALIASES = {"aws:alb/": "aws:lb/"}  # both tokens exist for the same resources


def normalize(token: str) -> str:
    for old, new in ALIASES.items():
        if token.startswith(old):
            return new + token[len(old) :]
    return token


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    protect: bool = False
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider_region: str | None = None
    dependencies: tuple[str, ...] = ()  # every URN the engine creates first (depends_on and input references)

    @property
    def tags(self) -> dict[str, str]:
        tags = self.inputs.get("tags") or {}
        if isinstance(tags, list):  # autoscaling groups tag with a list of {key, value}
            return {t.get("key"): t.get("value") for t in tags if isinstance(t, dict)}
        return tags if isinstance(tags, dict) else {}

    def depends_on(self, prop: str, other: Res) -> bool:
        return other.urn in self.property_dependencies.get(prop, [])


class PlanGraph:
    def __init__(
        self,
        resources: Iterable[Res],
        *,
        stack: str = "",
        region: str = "",
        allowed_regions: list[str] | None = None,
        existing_services: frozenset[str] = frozenset(),
    ):
        self.resources = [r for r in resources]
        self.stack = stack
        self.region = region
        self.allowed_regions = allowed_regions
        # Account services an organisation already runs (account.<service>: existing): not in the graph by design.
        self.existing_services = existing_services

    @classmethod
    def from_synthesis(cls, synth: Any) -> PlanGraph:
        s = synth.settings
        return cls(
            (
                Res(
                    normalize(r.type),
                    r.name,
                    r.urn,
                    r.inputs,
                    r.protect,
                    r.property_dependencies,
                    r.provider_region,
                    tuple(r.dependencies),
                )
                for r in synth.resources
                if r.custom
            ),
            stack=synth.stack,
            region=s.region,
            allowed_regions=list(s.allowed_regions or [s.region]),
            existing_services=frozenset(k for k, v in s.account.model_dump().items() if v == "existing"),
        )

    def of(self, *types: str) -> list[Res]:
        wanted = {normalize(t) for t in types}
        return [r for r in self.resources if r.type in wanted]

    def by_urn(self, urn: str) -> Res | None:
        if not hasattr(self, "_urns"):
            self._urns = {r.urn: r for r in self.resources}
        return self._urns.get(urn)

    def created_after(self, res: Res, other: Res) -> bool:
        """Whether the engine creates `other` before `res` (a direct or transitive dependency)."""
        seen: set[str] = set()
        todo = list(res.dependencies) + [u for us in res.property_dependencies.values() for u in us]
        while todo:
            urn = todo.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            dep = self.by_urn(urn)
            if dep is not None:
                todo += list(dep.dependencies) + [u for us in dep.property_dependencies.values() for u in us]
        return False

    def parts(self, owner: Res, part_type: str, prop: str) -> list[Res]:
        """Resources of `part_type` whose `prop` input refers to `owner` (a bucket's versioning, ...)."""
        return [p for p in self.of(part_type) if p.depends_on(prop, owner)]

    def referenced(self, res: Res, prop: str) -> list[Res]:
        """The resources `res.prop` refers to."""
        return [r for urn in res.property_dependencies.get(prop, []) if (r := self.by_urn(urn))]

    @property
    def environment(self) -> str:
        """prod or dev, from the tag every stack resource carries; prod rules when in doubt."""
        envs = {r.tags.get("pacsguard:environment") for r in self.resources} - {None}
        return "dev" if envs == {"dev"} else "prod"

    def without(self, *names: str) -> PlanGraph:
        return PlanGraph((r for r in self.resources if r.name not in names), stack=self.stack, region=self.region,
                         allowed_regions=self.allowed_regions, existing_services=self.existing_services)  # fmt: skip


def policy_doc(value: Any) -> dict[str, Any]:
    """A policy input as a dict (it may be a JSON string or already parsed)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    sts = doc.get("Statement", [])
    return sts if isinstance(sts, list) else [sts]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
