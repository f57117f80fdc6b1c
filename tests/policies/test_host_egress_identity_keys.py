"""NET-HOST-EGRESS admits exactly one labelled internet HTTPS rule (the identity keys) and fails everything else.

The identity-key rule is now always present, so the control must recognise it by label, protocol and port, and
still fail any other egress to a network: an unlabelled or mislabelled rule, another port, a second rule.
"""

from __future__ import annotations

import pytest

from infra.synth import Synthesis
from policies.evaluate import evaluate
from policies.graph import PlanGraph
from tests.policies.mutations import DELETE, Mutation, add, edit, urn_of

RULE = "hosts-egress-internet-https"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


@pytest.fixture(scope="module")
def graph(prod: Synthesis) -> PlanGraph:
    return PlanGraph.from_synthesis(prod)


def _egress(g: PlanGraph) -> list:
    return [f for f in evaluate(g) if f.control == "NET-HOST-EGRESS"]


def test_the_labelled_identity_key_rule_passes(graph: PlanGraph) -> None:
    mine = [f for f in _egress(graph) if RULE in f.resource]
    assert [f.status for f in mine] == ["pass"] and "identity-keys" in mine[0].message


def _second_rule(g: PlanGraph) -> PlanGraph:
    sg = urn_of(g, "hosts-sg")
    rule = next(r for r in g.resources if r.name == RULE)
    inputs = {**rule.inputs, "cidrIpv4": "0.0.0.0/0"}
    return add(EGRESS, "hosts-egress-rogue", inputs, {"securityGroupId": [sg]})(g)


@pytest.mark.parametrize(
    ("mutation", "named"),
    [
        (edit(RULE, **{"tags.pacsguard:purpose": DELETE}), RULE),
        (edit(RULE, **{"tags.pacsguard:purpose": "identity-keys exfiltration"}), RULE),
        (edit(RULE, fromPort=80, toPort=80), RULE),
        (edit(RULE, fromPort=0, toPort=65535), RULE),
        (edit(RULE, ipProtocol="udp"), RULE),
        (edit(RULE, ipProtocol="-1"), RULE),
        (edit("hosts-egress-db", cidrIpv4="10.0.0.0/8", referencedSecurityGroupId=None), "hosts-egress-db"),
        (_second_rule, "hosts-egress-rogue"),
    ],
    ids=["unlabelled", "unknown-purpose", "port-80", "all-ports", "udp", "all-protocols", "db-to-network", "second"],
)
def test_any_other_internet_or_network_egress_fails(graph: PlanGraph, mutation: Mutation, named: str) -> None:
    failed = [f for f in _egress(mutation(graph)) if f.status == "fail"]
    assert [f.resource for f in failed if named in f.resource], failed
