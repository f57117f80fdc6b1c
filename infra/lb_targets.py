"""Registering the hosts' auto scaling group with a load balancer's target group."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def attach_hosts(
    name: str, parent: pulumi.Resource, hosts_asg_name: pulumi.Input[str], target_group_arn: pulumi.Input[str]
) -> None:
    """The hosts are created after the load balancers (their user data names the ALB), so they attach last."""
    aws.autoscaling.Attachment(
        f"{name}-hosts-attachment",
        autoscaling_group_name=hosts_asg_name,
        lb_target_group_arn=target_group_arn,
        opts=pulumi.ResourceOptions(parent=parent),
    )
