"""The catalog as CrossGuard policies for `pulumi preview --policy-pack policies`.

Resource checks become resource validation policies; graph checks become stack validation policies
over the same PlanGraph the offline plan uses. Critical and high controls are mandatory, the rest
advisory; override per policy id with `--policy-pack-config` (e.g. {"enc-sns-kms": "mandatory"}).
Touching a value that is unknown during a preview makes the SDK mark a policy not applicable for
that run, never a pass.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.catalog import controls
from policies.graph import PlanGraph, Res, normalize
from policies.model import BLOCKING, Control, ResourceCheck, StackCheck

RESIDENCY_CONFIG = PolicyConfigSchema(
    properties={"allowedRegions": {"type": "array", "items": {"type": "string"}}}, required=[]
)
# account.<service>: existing in the stack settings: the organisation runs it, the stack declares nothing.
EXISTING_CONFIG = PolicyConfigSchema(
    properties={"existingAccountServices": {"type": "array", "items": {"type": "string"}}}, required=[]
)
CONFIG_SCHEMAS = {
    "PACS-DATA-RESIDENCY": RESIDENCY_CONFIG,
    "AUD-GUARDDUTY": EXISTING_CONFIG,
    "AUD-CONFIG": EXISTING_CONFIG,
}


def policy_name(control_id: str) -> str:
    return control_id.lower()


def enforcement(ctl: Control) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if ctl.severity in BLOCKING else EnforcementLevel.ADVISORY


def graph_from_policy_resources(resources: list[Any], config: dict[str, Any] | None = None) -> PlanGraph:
    def region_of(r: Any) -> str | None:
        return r.provider.props.get("region") if getattr(r, "provider", None) is not None else None

    res = [
        Res(
            type=normalize(r.resource_type),
            name=r.name,
            urn=r.urn,
            inputs=r.props,
            protect=bool(getattr(r.opts, "protect", False)),
            property_dependencies={k: [d.urn for d in v] for k, v in (r.property_dependencies or {}).items()},
            provider_region=region_of(r),
            dependencies=tuple(d.urn for d in (getattr(r, "dependencies", None) or [])),
        )
        for r in resources
    ]
    regions = Counter(r.provider_region for r in res if r.provider_region)
    allowed = (config or {}).get("allowedRegions")
    return PlanGraph(
        res,
        region=regions.most_common(1)[0][0] if regions else "",
        allowed_regions=list(allowed) if allowed else None,
        existing_services=frozenset((config or {}).get("existingAccountServices") or ()),
    )


def _resource_policy(ctl: Control, check: ResourceCheck) -> ResourceValidationPolicy:
    types = {normalize(t) for t in check.types}

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if normalize(args.resource_type) not in types or not check.applies(args.props):
            return
        message = check.check(args.props)
        if message:
            report(f"{ctl.id}: {message}. Fix: {ctl.remediation}", args.urn)

    return ResourceValidationPolicy(
        name=policy_name(ctl.id), description=ctl.title, validate=validate, enforcement_level=enforcement(ctl)
    )


def _stack_policy(ctl: Control, check: StackCheck) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        graph = graph_from_policy_resources(args.resources, dict(args.get_config()))
        urns = {r.name: r.urn for r in graph.resources}
        for outcome in check.check(graph):
            if outcome.status == "fail":
                report(
                    f"{ctl.id}: {outcome.resource}: {outcome.message}. Fix: {ctl.remediation}",
                    urns.get(outcome.resource),
                )

    return StackValidationPolicy(
        name=policy_name(ctl.id),
        description=ctl.title,
        validate=validate,
        enforcement_level=enforcement(ctl),
        config_schema=CONFIG_SCHEMAS.get(ctl.id),
    )


def build_policies() -> list[Policy]:
    out: list[Policy] = []
    for ctl in controls():
        if isinstance(ctl.plan, ResourceCheck):
            out.append(_resource_policy(ctl, ctl.plan))
        elif isinstance(ctl.plan, StackCheck):
            out.append(_stack_policy(ctl, ctl.plan))
    return out
