"""Which network resources belong to the stack: what carries its tag, and what its tagged resources sit in or use.

A security group tagged with the stack is judged whatever its VPC's tags; a VPC, security group or ENI a stack
resource depends on is judged though nobody tagged it. So neither an untagged parent hides a tagged child nor an
untagged child hides behind a tagged parent.
"""

from __future__ import annotations

from typing import Any

from policies.cloud.collect import data, ec2, edge, in_stack


def stack_vpc_ids(cx: Any) -> set[str]:
    api, stack = cx.api, cx.stack
    ids = {v["VpcId"] for v in ec2.vpcs(api, stack)}
    ids |= {g["VpcId"] for g in ec2.security_groups(api) if in_stack(g.get("Tags"), stack) and g.get("VpcId")}
    ids |= {s["VpcId"] for s in ec2.subnets(api) if in_stack(s.get("Tags"), stack)}
    ids |= {i["VpcId"] for i in ec2.instances(api, stack) if i.get("VpcId")}
    ids |= {lb["VpcId"] for lb in edge.load_balancers(api, stack) if lb.get("VpcId")}
    ids |= {(db.get("DBSubnetGroup") or {}).get("VpcId") for db in data.db_instances(api, stack)} - {None, ""}
    return ids


def stack_security_group_ids(cx: Any) -> set[str]:
    api, stack = cx.api, cx.stack
    vpcs = stack_vpc_ids(cx)
    groups = ec2.security_groups(api)
    ids = {g["GroupId"] for g in groups if in_stack(g.get("Tags"), stack) or g.get("VpcId") in vpcs}
    for i in ec2.instances(api, stack):
        ids |= {g["GroupId"] for g in i.get("SecurityGroups", [])}
    lbs = edge.load_balancers(api, stack)
    for lb in lbs:
        ids |= set(lb.get("SecurityGroups", []))
    for db in data.db_instances(api, stack):
        ids |= {g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])}
    for lt in ec2.launch_templates(api, stack):
        ids |= set(lt["data"].get("SecurityGroupIds", []))
        ids |= {g for ni in lt["data"].get("NetworkInterfaces", []) for g in ni.get("Groups", [])}
    # The load balancers' own network interfaces ("ELB app/NAME/ID"), whose groups an admin may have edited.
    lb_names = {"ELB " + lb["LoadBalancerArn"].split(":loadbalancer/", 1)[-1] for lb in lbs}
    for eni in ec2.network_interfaces(api):
        if eni.get("Description") in lb_names or in_stack(eni.get("TagSet"), stack):
            ids |= {g["GroupId"] for g in eni.get("Groups", [])}
    return ids & {g["GroupId"] for g in groups}
