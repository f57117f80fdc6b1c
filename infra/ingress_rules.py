"""Admitting a list of networks (IPv4 or IPv6) on one TCP port of a security group, one rule per network."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.context import StackContext


def allow_networks(
    prefix: str,
    ctx: StackContext,
    security_group_id: pulumi.Input[str],
    port: int,
    networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
    what: str,
    parent: pulumi.Resource,
) -> None:
    """Rules named `<prefix>-<index>` (stable names: renaming a rule would replace it)."""
    for i, net in enumerate(networks):
        family = "cidr_ipv6" if net.version == 6 else "cidr_ipv4"
        aws.vpc.SecurityGroupIngressRule(
            f"{prefix}-{i}",
            security_group_id=security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{what} from {net}",
            tags=ctx.tags("none"),
            opts=pulumi.ResourceOptions(parent=parent),
            **{family: str(net)},
        )
