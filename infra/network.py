"""VPC in three tiers: public (load balancers only), private (hosts, NAT egress), isolated (database)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.endpoint_policies import endpoint_policy
from infra.endpoint_services import EBS_ENDPOINTS, INTERFACE_ENDPOINTS, POLICY_SERVICES
from infra.log_group import encrypted_log_group
from infra.policy_doc import assume_role_policy, document, statement
from stacks.settings import ConnectivitySettings

TIERS = ("public", "private", "isolated")


@dataclass(frozen=True)
class NetworkArgs:
    context: StackContext
    zones: list[str]
    logs_key_arn: pulumi.Input[str]
    vpc_cidr: ipaddress.IPv4Network
    nat_per_az: bool  # one NAT gateway per zone (else one for the stack)
    connectivity: ConnectivitySettings  # the hospital side: transit gateway or VPN gateway
    client_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]  # routed through that attachment
    ebs_endpoints: bool  # the image store is an EBS volume: the hosts reach the EBS APIs through endpoints


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:network:Network", name, None, opts)
        ctx, s = args.context, args
        child = pulumi.ResourceOptions(parent=self)
        none_tags = ctx.tags("none")

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(s.vpc_cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**none_tags, "Name": f"{ctx.prefix}-vpc"},
            opts=child,
        )
        # Take over the default security group and leave it without a single rule.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[], tags=none_tags, opts=child
        )

        cidrs = self.cidrs = subnet_plan(s.vpc_cidr, len(args.zones))
        self.subnets: dict[str, list[aws.ec2.Subnet]] = {t: [] for t in TIERS}
        for tier in TIERS:
            for i, zone in enumerate(args.zones):
                self.subnets[tier].append(
                    aws.ec2.Subnet(
                        f"{name}-{tier}-{i}",
                        vpc_id=self.vpc.id,
                        cidr_block=cidrs[tier][i],
                        availability_zone=zone,
                        map_public_ip_on_launch=False,
                        tags={**none_tags, "Name": f"{ctx.prefix}-{tier}-{zone}", "pacsguard:tier": tier},
                        opts=child,
                    )
                )

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=none_tags, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=self.vpc.id, tags=none_tags, opts=child)
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        for i, sn in enumerate(self.subnets["public"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{i}", subnet_id=sn.id, route_table_id=public_rt.id, opts=child
            )

        nat_count = len(args.zones) if args.nat_per_az else 1
        nats = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-eip-{i}", domain="vpc", tags=none_tags, opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=self.subnets["public"][i].id,
                    tags=none_tags,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for i, sn in enumerate(self.subnets["private"]):
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{i}", vpc_id=self.vpc.id, tags=none_tags, opts=child)
            aws.ec2.Route(
                f"{name}-private-default-{i}",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i % nat_count].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-rta-{i}", subnet_id=sn.id, route_table_id=rt.id, opts=child)
            self.private_route_tables.append(rt)
        self._hospital_routes(name, ctx, args)
        # Isolated tier: a route table with only the local route, so the database has no way out.
        isolated_rt = aws.ec2.RouteTable(f"{name}-isolated-rt", vpc_id=self.vpc.id, tags=none_tags, opts=child)
        for i, sn in enumerate(self.subnets["isolated"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-isolated-rta-{i}", subnet_id=sn.id, route_table_id=isolated_rt.id, opts=child
            )

        self._endpoints(name, ctx, [*(rt.id for rt in self.private_route_tables), isolated_rt.id], args.ebs_endpoints)
        self._flow_logs(name, ctx, args.logs_key_arn)
        self.register_outputs({"vpc_id": self.vpc.id})

    def subnet_ids(self, tier: str) -> list[pulumi.Output[str]]:
        return [sn.id for sn in self.subnets[tier]]

    def subnet_cidrs(self, tier: str) -> list[str]:
        return list(self.cidrs[tier])

    def _hospital_routes(self, name: str, ctx: StackContext, args: NetworkArgs) -> None:
        """Routes from the private tier to the hospital networks, through its transit gateway or VPN gateway.

        Without them, replies to modalities and reading rooms (the NLB keeps client addresses) follow the
        default route to the NAT and are lost.
        """
        conn, s = args.connectivity, args
        if not conn.attached:
            return
        child = pulumi.ResourceOptions(parent=self)
        targets: dict[str, pulumi.Input[str]]
        attached: pulumi.Resource
        if conn.transit_gateway_id:
            attached = aws.ec2transitgateway.VpcAttachment(
                f"{name}-tgw-attachment",
                transit_gateway_id=conn.transit_gateway_id,
                vpc_id=self.vpc.id,
                subnet_ids=self.subnet_ids("private"),
                dns_support="enable",
                tags=ctx.tags("none"),
                opts=child,
            )
            targets = {"transit_gateway_id": conn.transit_gateway_id}
        else:
            attached = aws.ec2.VpnGatewayAttachment(
                f"{name}-vgw-attachment", vpc_id=self.vpc.id, vpn_gateway_id=str(conn.vpn_gateway_id), opts=child
            )
            targets = {"gateway_id": str(conn.vpn_gateway_id)}
        for i, rt in enumerate(self.private_route_tables):
            for j, net in enumerate(n for n in s.client_networks if n.version == 4):
                aws.ec2.Route(
                    f"{name}-hospital-{i}-{j}",
                    route_table_id=rt.id,
                    destination_cidr_block=str(net),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[attached]),
                    **targets,
                )

    def _endpoints(
        self, name: str, ctx: StackContext, route_table_ids: list[pulumi.Input[str]], ebs_endpoints: bool
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        tags = ctx.tags("none")
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{ctx.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            policy=endpoint_policy(ctx, "s3"),
            tags=tags,
            opts=child,
        )
        self.endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="Interface endpoints: HTTPS from inside the VPC only",
            tags=tags,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=self.endpoint_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=self.vpc.cidr_block,
            description="AWS APIs from inside the VPC",
            tags=tags,
            opts=child,
        )
        for svc in (*INTERFACE_ENDPOINTS, *(EBS_ENDPOINTS if ebs_endpoints else ())):
            aws.ec2.VpcEndpoint(
                f"{name}-{svc}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{ctx.region}.{svc}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.subnet_ids("private"),
                security_group_ids=[self.endpoint_sg.id],
                policy=endpoint_policy(ctx, svc) if svc in POLICY_SERVICES else None,
                tags=tags,
                opts=child,
            )

    def _flow_logs(self, name: str, ctx: StackContext, logs_key_arn: pulumi.Input[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.flow_log_group = encrypted_log_group(
            f"{name}-flow-logs", ctx, f"/pacsguard/{ctx.stack}/vpc-flow-logs", logs_key_arn, parent=self
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com", ctx.account_id),
            tags=ctx.tags("none"),
            opts=child,
        )
        write = aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=document(
                statement(
                    "WriteFlowLogs",
                    ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                    [self.flow_log_group.arn, pulumi.Output.concat(self.flow_log_group.arn, ":*")],
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=ctx.tags("logs"),
            # CreateFlowLogs checks the role can write the group: its policy comes first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[write]),
        )


def subnet_plan(vpc: ipaddress.IPv4Network, zones: int) -> dict[str, list[str]]:
    """Carve the VPC into equal blocks: tier by tier, one per zone (9 blocks at most for 3 AZs)."""
    blocks = list(vpc.subnets(new_prefix=vpc.prefixlen + 4))
    plan: dict[str, list[str]] = {}
    for t, tier in enumerate(TIERS):
        plan[tier] = [str(blocks[t * 3 + z]) for z in range(zones)]
    return plan
