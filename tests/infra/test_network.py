"""Network exposure: nothing admits the world, the database tier has no way out, traffic is logged."""

from __future__ import annotations

from infra.network import INTERFACE_ENDPOINTS
from infra.synth import Synthesis
from tests.infra.graph import INGRESS, SG, named, subnet_ids

WORLD = {"0.0.0.0/0", "::/0"}


def test_no_ingress_from_the_world_on_any_port(stack: Synthesis) -> None:
    for rule in stack.of_type(INGRESS):
        assert rule.inputs.get("cidrIpv4") not in WORLD, rule.name
        assert rule.inputs.get("cidrIpv6") not in WORLD, rule.name
    for sg in stack.of_type(SG, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):
        for ing in sg.inputs.get("ingress") or []:
            assert not WORLD & set(ing.get("cidrBlocks", []) + ing.get("ipv6CidrBlocks", [])), sg.name


def test_default_security_group_has_no_rules(stack: Synthesis) -> None:
    (default,) = stack.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs.get("ingress") == [] and default.inputs.get("egress") == []


def test_subnets_never_assign_public_ips(stack: Synthesis) -> None:
    subnets = stack.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 3 * stack.settings.availability_zones
    for sn in subnets:
        assert sn.inputs["mapPublicIpOnLaunch"] is False, sn.name


def test_only_public_tier_routes_to_the_internet_gateway_and_isolated_has_no_default_route(
    stack: Synthesis,
) -> None:
    routes = stack.of_type("aws:ec2/route:Route")
    by_table: dict[str, list] = {}
    for r in routes:
        by_table.setdefault(r.inputs["routeTableId"], []).append(r)
    assoc = {
        a.inputs["subnetId"]: a.inputs["routeTableId"]
        for a in stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    for sn in stack.of_type("aws:ec2/subnet:Subnet"):
        tier = sn.inputs["tags"]["pacsguard:tier"]
        table_routes = by_table.get(assoc[f"{sn.name}-id"], [])
        if tier == "public":
            assert any(r.inputs.get("gatewayId") for r in table_routes)
        elif tier == "private":
            assert [r.inputs.get("natGatewayId") for r in table_routes] and not any(
                r.inputs.get("gatewayId") for r in table_routes
            )
        else:
            assert table_routes == [], f"isolated subnet {sn.name} has routes {table_routes}"


def test_nat_per_az_in_prod_single_in_dev(stack: Synthesis) -> None:
    nats = stack.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == (stack.settings.availability_zones if stack.settings.is_prod else 1)
    public = subnet_ids(stack, "public")
    assert all(n.inputs["subnetId"] in public for n in nats)


def test_aws_traffic_stays_in_the_vpc(stack: Synthesis) -> None:
    endpoints = stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    region = stack.settings.region
    services = {e.inputs["serviceName"].removeprefix(f"com.amazonaws.{region}."): e for e in endpoints}
    assert services["s3"].inputs["vpcEndpointType"] == "Gateway"
    for svc in INTERFACE_ENDPOINTS:
        ep = services[svc].inputs
        assert ep["vpcEndpointType"] == "Interface" and ep["privateDnsEnabled"] is True, svc
    assert set(INTERFACE_ENDPOINTS) >= {
        "ssm",
        "ssmmessages",
        "ec2messages",
        "kms",
        "logs",
        "secretsmanager",
        "sts",
    }


def test_host_egress_is_limited_to_needed_ports(stack: Synthesis) -> None:
    egress = [
        r
        for r in stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == "hosts-sg-id"
    ]
    movers = [m for m in stack.settings.dicom.modalities if "move" in m.rights]
    ports = sorted(r.inputs["fromPort"] for r in egress)
    assert ports == sorted([443, 443, 443, 2049, 5432, *(m.port for m in movers)])
    world = []
    for r in egress:
        assert r.inputs["fromPort"] == r.inputs["toPort"] and r.inputs["ipProtocol"] == "tcp"
        i = r.inputs
        if i.get("cidrIpv4") == "0.0.0.0/0":
            world.append(r.name)
        elif i.get("cidrIpv4"):  # C-MOVE: one modality's address and port
            assert (i["cidrIpv4"], i["fromPort"]) in {(f"{m.host}/32", m.port) for m in movers}
        else:
            assert i.get("referencedSecurityGroupId") or i.get("prefixListId")
    # 443 to anywhere in one rule only, for the identity keys (and, open, the package window); never for AWS APIs.
    assert world == ["hosts-egress-internet-https"]
    rule = named(stack, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "hosts-egress-internet-https")
    window = stack.settings.hosts.package_egress == "open"
    assert rule.inputs["tags"]["pacsguard:purpose"] == ("identity-keys package-window" if window else "identity-keys")
    apis = named(stack, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "hosts-egress-endpoints")
    assert apis.inputs["referencedSecurityGroupId"] == "network-endpoints-sg-id"
    s3 = named(stack, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "hosts-egress-s3")
    assert (
        s3.inputs["prefixListId"]
        == named(stack, "aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").outputs["prefixListId"]
    )


def test_flow_logs_capture_all_traffic_into_an_encrypted_group(stack: Synthesis) -> None:
    (flow,) = stack.of_type("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    group = named(stack, "aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
    assert flow.inputs["logDestination"] == group.outputs["arn"]
    assert group.inputs["kmsKeyId"]


def test_dicom_port_admits_only_the_modality_networks(stack: Synthesis) -> None:
    port = stack.settings.dicom.port
    on_hosts = [
        r.inputs
        for r in stack.of_type(INGRESS)
        if r.inputs.get("fromPort") == port and r.inputs["securityGroupId"] == "hosts-sg-id"
    ]
    # Modalities by network (the load balancer keeps their address), and the load balancer's health checks.
    assert {r["cidrIpv4"] for r in on_hosts if r.get("cidrIpv4")} == {
        str(c) for c in stack.settings.dicom.modality_cidrs
    }
    assert {r["referencedSecurityGroupId"] for r in on_hosts if r.get("referencedSecurityGroupId")} == {"dicom-sg-id"}
