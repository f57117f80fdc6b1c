"""The DICOM entry: an internal NLB passing TCP through, so mutual TLS ends at Orthanc, not the load balancer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.ingress_rules import allow_networks
from infra.lb_targets import attach_hosts
from stacks.settings import DicomSettings


@dataclass(frozen=True)
class DicomIngressArgs:
    context: StackContext
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Input[str]]
    private_subnet_ids: list[pulumi.Input[str]]
    hosts_security_group_id: pulumi.Input[str]
    dicom: DicomSettings


class DicomIngress(pulumi.ComponentResource):
    def __init__(self, name: str, args: DicomIngressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pacsguard:edge:DicomIngress", name, None, opts)
        ctx, dicom = args.context, args.dicom
        child = pulumi.ResourceOptions(parent=self)
        tags = ctx.tags("none")
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="DICOM entry: DICOM TLS from modality networks",
            tags=tags,
            opts=child,
        )
        allow_networks(f"{name}-in", ctx, self.security_group.id, dicom.port, dicom.modality_cidrs, "DICOM TLS", self)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-hosts",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=dicom.port,
            to_port=dicom.port,
            referenced_security_group_id=args.hosts_security_group_id,
            description="DICOM TLS to Orthanc (and health checks)",
            tags=tags,
            opts=child,
        )
        # Health checks come from the NLB itself; modality traffic keeps its client address.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-hosts-health",
            security_group_id=args.hosts_security_group_id,
            ip_protocol="tcp",
            from_port=dicom.port,
            to_port=dicom.port,
            referenced_security_group_id=self.security_group.id,
            description="DICOM load balancer health checks",
            tags=tags,
            opts=child,
        )
        self.nlb = aws.lb.LoadBalancer(
            f"{name}-nlb",
            name=f"{ctx.prefix}-dicom"[:32],
            load_balancer_type="network",
            internal=not dicom.internet_facing,
            subnets=args.public_subnet_ids if dicom.internet_facing else args.private_subnet_ids,
            security_groups=[self.security_group.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=ctx.is_prod,
            tags=tags,
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-hosts",
            port=dicom.port,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            preserve_client_ip="true",
            health_check=aws.lb.TargetGroupHealthCheckArgs(enabled=True, protocol="TCP", interval=10),
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-tcp",
            load_balancer_arn=self.nlb.arn,
            port=dicom.port,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags=tags,
            opts=child,
        )
        self._name = name
        self.register_outputs({"nlb_dns": self.nlb.dns_name})

    def attach(self, hosts_asg_name: pulumi.Input[str]) -> None:
        attach_hosts(self._name, self, hosts_asg_name, self.target_group.arn)
