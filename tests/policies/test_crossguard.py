"""The CrossGuard pack runs the same checks: called directly (never PolicyPack(), which starts a server)."""

from __future__ import annotations

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.synth import Synthesis
from policies.catalog import by_id, controls
from policies.crossguard import build_policies, policy_name
from policies.graph import PlanGraph
from tests.policies.test_controls_fail import MUTATIONS


def _opts(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def policy_resources(graph: PlanGraph) -> list[PolicyResource]:
    """The graph as CrossGuard hands it to stack policies, dependencies and property dependencies included."""
    made: dict[str, PolicyResource] = {}
    for r in graph.resources:
        region = r.provider_region or graph.region
        provider = PolicyProviderResource("pulumi:providers:aws", {"region": region}, "urn:provider", "default")
        made[r.urn] = PolicyResource(r.type, r.inputs, r.urn, r.name, _opts(r.protect), provider, None, [], {})
    for r in graph.resources:
        made[r.urn].property_dependencies = {
            k: [made[u] for u in v if u in made] for k, v in r.property_dependencies.items()
        }
        made[r.urn].dependencies = [made[u] for u in r.dependencies if u in made]
    return list(made.values())


def violations(graph: PlanGraph, config: dict | None = None) -> dict[str, list[tuple[str, str | None]]]:
    found: dict[str, list[tuple[str, str | None]]] = {}
    resources = policy_resources(graph)
    for policy in build_policies():

        def report(message: str, urn: str | None = None, name: str = policy.name) -> None:
            found.setdefault(name, []).append((message, urn))

        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(resources, config or {}), report)
        else:
            assert isinstance(policy, ResourceValidationPolicy)
            for r in resources:
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, r.provider, config or {})
                for validate in policy.validate if isinstance(policy.validate, list) else [policy.validate]:
                    validate(args, report)
    return found


@pytest.fixture(scope="module")
def prod_graph(prod: Synthesis) -> PlanGraph:
    return PlanGraph.from_synthesis(prod)


def test_one_policy_per_control_with_severity_driven_enforcement() -> None:
    policies = {p.name: p for p in build_policies()}
    assert set(policies) == {policy_name(c.id) for c in controls() if c.plan}
    assert policies["pacs-dicom-tls"].enforcement_level == EnforcementLevel.MANDATORY
    assert policies["enc-sns-kms"].enforcement_level == EnforcementLevel.ADVISORY


def test_prod_stack_has_no_violations(prod_graph: PlanGraph) -> None:
    assert violations(prod_graph, {"allowedRegions": ["eu-central-1", "eu-west-1"]}) == {}


@pytest.mark.parametrize("control_id", sorted(k for k, (m, _) in MUTATIONS.items() if not isinstance(m, dict)))
def test_each_broken_property_is_a_violation_of_that_policy(control_id: str, prod_graph: PlanGraph) -> None:
    mutation, resource = MUTATIONS[control_id]
    mutated = mutation(prod_graph)
    config = {"allowedRegions": mutated.allowed_regions} if mutated.allowed_regions else {}
    found = violations(mutated, config)
    assert policy_name(control_id) in found
    message, _urn = found[policy_name(control_id)][0]
    assert message.startswith(control_id) and by_id(control_id).remediation in message
    assert resource in message or any(resource in (u or "") for _, u in found[policy_name(control_id)])
